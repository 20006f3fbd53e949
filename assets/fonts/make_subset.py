"""Makes NotoSansSC-chart-subset.otf from Debian's fonts-noto-cjk (assets/fonts/README.md).

Usage: python3 make_subset.py NotoSansCJK-Regular.ttc NotoSansSC-chart-subset.otf

1. Subsets face 2 (Noto Sans CJK SC Regular) to the characters below with pyftsubset.
2. Starts every glyph's outline with an empty contour at the origin (a lone moveto), so
   each glyph's bounding box begins at x = 0. plotters 0.3.7 draws an ab_glyph glyph's
   bitmap at the pen position and drops the bounding box's left edge (the glyph's left
   side bearing): without this, glyphs with a wide bearing sit too far left and leave a
   gap after them ("Ordersand", "每日 订单"). The moveto draws nothing.
"""

import sys

from fontTools.pens.recordingPen import RecordingPen
from fontTools.pens.t2CharStringPen import T2CharStringPen
from fontTools.subset import main as pyftsubset
from fontTools.ttLib import TTFont

UNICODES = "U+0020-007E,U+00A5,U+00B7,U+2013,U+2014,U+3001,U+3002,U+FF08,U+FF09,U+FF0C,U+FF1A"
# Every Chinese character of src/chart/labels.rs (a test checks the font has them all).
TEXT = "与京估佣元北单天数日时有期段每没订近这金间预"

source, output = sys.argv[1], sys.argv[2]
pyftsubset([
    source, "--font-number=2", f"--unicodes={UNICODES}", f"--text={TEXT}",
    "--layout-features=", "--no-hinting", "--desubroutinize",
    "--name-IDs=0,1,2,3,4,5,6,7,13,14", "--drop-tables+=vhea,vmtx,VORG,BASE",
    f"--output-file={output}",
])

font = TTFont(output)
cff = font["CFF "].cff
top = cff[cff.fontNames[0]]
glyphs = font.getGlyphSet()
widths = font["hmtx"].metrics
for name in font.getGlyphOrder():
    recording = RecordingPen()
    glyphs[name].draw(recording)
    if not recording.value:
        continue  # a space: nothing drawn, nothing to place
    bounds = [p for _, points in recording.value for p in points]
    if min(x for x, _ in bounds) < 0:
        print(f"note: {name} reaches left of its origin", file=sys.stderr)
    old = top.CharStrings[name]
    private = old.private
    width = widths[name][0]
    width = None if width == private.defaultWidthX else width - private.nominalWidthX
    pen = T2CharStringPen(width, glyphs)
    pen.moveTo((0, 0))
    pen.closePath()
    recording.replay(pen)
    # Not optimized: the optimizer would merge the lone moveto into the next one.
    charstring = pen.getCharString(private=private, globalSubrs=old.globalSubrs, optimize=False)
    top.CharStrings[name] = charstring
font.save(output)
