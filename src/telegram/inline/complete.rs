//! Whether a reference in an inline query is typed out, so worth converting.
//!
//! Telegram sends an inline query on (nearly) every keystroke. The detector finds a product
//! id from its 12th digit and a short link from its 3rd code character, so `@bot 35831173834`
//! … `@bot 3583117383482622604` would be eight different "products", each a veapi call for
//! a product that does not exist. A reference counts only once it cannot still be growing:
//!
//! - **something follows it** (a space, more text: the share text around a pasted link) or
//!   it closes itself (a short link's trailing `/`): converted at once;
//! - **it ends the query** (the user may still be typing it): converted once the user has
//!   been quiet for [`super::QUIET`], unless a newer query came in meanwhile;
//! - **a bare product id of [`FULL_ID_DIGITS`] digits** (every Douyin product id today): a
//!   pasted id is converted at once rather than after the quiet moment (typed digit by
//!   digit, it is converted when its last digit arrives, which is when it is complete);
//! - **too short to be real** whatever follows: product ids under [`MIN_ID_DIGITS`] digits
//!   (Douyin's product ids are 19 digits today; the shortest in the corpus has 15) and short
//!   link codes under [`MIN_SHORT_CODE`] characters (Douyin's are 7, 8 or 11) are never
//!   converted inline.

use crate::detect::{short_link_parts, Kind, Reference};

/// The fewest digits of a product id converted inline.
pub const MIN_ID_DIGITS: usize = 15;
/// The fewest characters of a short link's code converted inline.
pub const MIN_SHORT_CODE: usize = 7;
/// The length of Douyin's product ids: an id this long is complete.
pub const FULL_ID_DIGITS: usize = 19;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Complete: convert now.
    Ready,
    /// Complete if the user stops typing: convert after a quiet moment.
    Settling,
    /// Still being typed (or never a real reference): not converted.
    Partial,
}

/// How ready `r`, found in `text`, is to be converted.
pub fn readiness(text: &str, r: &Reference) -> Readiness {
    let at_end = r.end >= text.len();
    let written = text.get(r.start..r.end).unwrap_or_default();
    match r.kind {
        Kind::ProductId if r.value.len() < MIN_ID_DIGITS => Readiness::Partial,
        Kind::ProductId if r.value.len() >= FULL_ID_DIGITS => Readiness::Ready,
        Kind::ShortLink => {
            let long_enough =
                short_link_parts(&r.value).is_some_and(|(_, code)| code.len() >= MIN_SHORT_CODE);
            if !long_enough {
                Readiness::Partial
            } else if written.ends_with('/') || !at_end {
                Readiness::Ready
            } else {
                Readiness::Settling
            }
        }
        _ if at_end => Readiness::Settling,
        _ => Readiness::Ready,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::detect;

    fn ready(text: &str) -> Vec<Readiness> {
        detect(text).iter().map(|r| readiness(text, r)).collect()
    }

    #[test]
    fn a_product_id_counts_from_15_digits_and_settles_at_the_end() {
        assert_eq!(ready("35831173834826"), vec![Readiness::Partial]);
        assert_eq!(ready("35831173834826 好价"), vec![Readiness::Partial]);
        assert_eq!(ready("358311738348262"), vec![Readiness::Settling]);
        assert_eq!(ready("358311738348262260"), vec![Readiness::Settling]);
        // 19 digits, as every Douyin product id: pasted, it is answered at once.
        assert_eq!(ready("3583117383482622604"), vec![Readiness::Ready]);
        assert_eq!(ready("3583117383482622604 好价"), vec![Readiness::Ready]);
    }

    #[test]
    fn a_short_link_is_ready_when_closed_or_followed() {
        assert_eq!(ready("v.douyin.com/i2w"), vec![Readiness::Partial]);
        assert_eq!(ready("v.douyin.com/i2wDMR/"), vec![Readiness::Partial]);
        assert_eq!(ready("v.douyin.com/i2wDMRR"), vec![Readiness::Settling]);
        assert_eq!(
            ready("https://v.douyin.com/i2wDMRRN/"),
            vec![Readiness::Ready]
        );
        assert_eq!(ready("v.douyin.com/i2wDMRRN 好物"), vec![Readiness::Ready]);
        let share = "9.28 reo:/ 【抖音商城】https://v.douyin.com/i2wDMRRN/ 猫耳酥 长按复制此条消息，打开抖音搜索，查看商品详情！";
        assert_eq!(ready(share), vec![Readiness::Ready]);
    }

    #[test]
    fn a_product_url_at_the_end_may_still_grow() {
        let url = "https://haohuo.jinritemai.com/views/product/detail?id=3583117383482622604";
        assert_eq!(ready(url), vec![Readiness::Settling]);
        assert_eq!(ready(&format!("{url} 买")), vec![Readiness::Ready]);
    }
}
