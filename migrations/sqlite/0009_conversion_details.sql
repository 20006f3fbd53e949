-- The product's details (title, price, cover, shop, commission) as JSON text, kept with the
-- conversion they were read with, so a cached answer shows the same card without another
-- upstream call. NULL: none known (rows made before this, or upstream gave none).
ALTER TABLE conversions ADD COLUMN details TEXT;
