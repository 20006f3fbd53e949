//! Conversions: the cache for repeated requests, the record of which values this bot
//! issued (attribution trusts earlier-format values only then), and where a user converted
//! (the group a message falls back to).

use super::{Store, StoreError};
use crate::veapi::{Coupon, ProductDetails, ShareLink};
use sqlx::Row;
use std::collections::HashSet;

/// A conversion to remember.
#[derive(Debug, Clone)]
pub struct NewConversion<'a> {
    pub user_id: u64,
    /// How to mention the user in a group (name or @username).
    pub user_name: Option<&'a str>,
    pub chat_id: i64,
    pub product_key: &'a str,
    pub external_info: &'a str,
    pub link: &'a ShareLink,
    pub created_at: i64,
}

/// A remembered conversion: the link, the product's details, where and when it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedConversion {
    pub link: ShareLink,
    /// What the product is, as read with the conversion (none for rows older than
    /// migration 0009, or where upstream gave none).
    pub details: Option<ProductDetails>,
    pub chat_id: i64,
    pub created_at: i64,
}

impl Store {
    /// The newest conversion of `product_key` by `user_id` made at or after `not_before`.
    pub async fn cached_conversion(
        &self,
        user_id: u64,
        product_key: &str,
        not_before: i64,
    ) -> Result<Option<CachedConversion>, StoreError> {
        let row = on_backend!(self, read, |pool| {
            sqlx::query(
                "SELECT dy_password, coupon_command, share_link, chat_id, created_at, details
                 FROM conversions
                 WHERE user_id = $1 AND product_key = $2 AND created_at >= $3
                 ORDER BY created_at DESC, id DESC LIMIT 1",
            )
            .bind(user_id as i64)
            .bind(product_key)
            .bind(not_before)
            .fetch_optional(pool)
            .await?
            .map(|r| {
                let coupon: Option<String> = r.get("coupon_command");
                (
                    r.get::<String, _>("dy_password"),
                    coupon,
                    r.get::<Option<String>, _>("share_link"),
                    r.get::<i64, _>("chat_id"),
                    r.get::<i64, _>("created_at"),
                    r.get::<Option<String>, _>("details"),
                )
            })
        });
        Ok(row.map(
            |(dy_password, coupon, share_link, chat_id, created_at, details)| CachedConversion {
                link: ShareLink {
                    dy_password,
                    share_link,
                    dy_deeplink: None,
                    dy_zlink: None,
                    coupon: coupon.map(|share_command| Coupon {
                        share_command,
                        share_link: None,
                    }),
                },
                details: details.as_deref().and_then(ProductDetails::from_json),
                chat_id,
                created_at,
            },
        ))
    }

    pub async fn record_conversion(&self, c: &NewConversion<'_>) -> Result<(), StoreError> {
        self.record_conversion_with(c, None).await
    }

    /// [`record_conversion`](Self::record_conversion) keeping the product's details with it.
    pub async fn record_conversion_with(
        &self,
        c: &NewConversion<'_>,
        details: Option<&ProductDetails>,
    ) -> Result<(), StoreError> {
        let details = details.map(ProductDetails::to_json);
        on_backend!(self, write, |pool| {
            sqlx::query(
                "INSERT INTO conversions
                 (user_id, user_name, chat_id, product_key, product_id, external_info,
                  dy_password, coupon_command, share_link, created_at, details)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(c.user_id as i64)
            .bind(c.user_name)
            .bind(c.chat_id)
            .bind(c.product_key)
            .bind(c.link.product_id())
            .bind(c.external_info)
            .bind(&c.link.dy_password)
            .bind(c.link.coupon.as_ref().map(|c| c.share_command.as_str()))
            .bind(c.link.share_link.as_deref())
            .bind(c.created_at)
            .bind(details.as_deref())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Details found after the conversion was remembered (the batched lookup): kept on the
    /// user's rows of that product that have none, so the cache answers with them next time.
    /// Returns how many rows took them.
    pub async fn set_conversion_details(
        &self,
        user_id: u64,
        product_key: &str,
        details: &ProductDetails,
    ) -> Result<u64, StoreError> {
        let json = details.to_json();
        Ok(on_backend!(self, write, |pool| {
            sqlx::query(
                "UPDATE conversions SET details = $1
                 WHERE user_id = $2 AND product_key = $3 AND details IS NULL",
            )
            .bind(&json)
            .bind(user_id as i64)
            .bind(product_key)
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }

    /// Which of these `(user, external_info)` pairs this bot issued (a conversion recorded
    /// for that user with exactly that value): earlier-format values are trusted only then.
    pub async fn issued_values(
        &self,
        candidates: &[(u64, &str)],
    ) -> Result<HashSet<String>, StoreError> {
        let mut issued = HashSet::new();
        for &(user_id, value) in candidates {
            if issued.contains(value) {
                continue;
            }
            let found = on_backend!(self, read, |pool| {
                sqlx::query(
                    "SELECT 1 FROM conversions WHERE user_id = $1 AND external_info = $2 LIMIT 1",
                )
                .bind(user_id as i64)
                .bind(value)
                .fetch_optional(pool)
                .await?
                .is_some()
            });
            if found {
                issued.insert(value.to_string());
            }
        }
        Ok(issued)
    }

    /// The group chat where `user_id` converted `product_id` (else any link, latest first),
    /// and how to name them there.
    pub async fn fallback_chat(
        &self,
        user_id: u64,
        product_id: Option<&str>,
    ) -> Result<Option<(i64, Option<String>)>, StoreError> {
        Ok(on_backend!(self, read, |pool| {
            sqlx::query_as(
                "SELECT chat_id, user_name FROM conversions WHERE user_id = $1 AND chat_id != user_id
                 ORDER BY (product_id IS NOT NULL AND product_id = $2) DESC, created_at DESC, id DESC
                 LIMIT 1",
            )
            .bind(user_id as i64)
            .bind(product_id)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// When the first conversion was made, if any.
    pub async fn earliest_conversion_at(&self) -> Result<Option<i64>, StoreError> {
        Ok(on_backend!(self, read, |pool| {
            sqlx::query_scalar("SELECT MIN(created_at) FROM conversions")
                .fetch_one(pool)
                .await?
        }))
    }
}
