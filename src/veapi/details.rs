//! What a product is: title, price, coupon price, cover, shop and this account's commission,
//! for the card a converted reference is shown with.
//!
//! Two sources, both read by the same lenient reader ([`product`]):
//! - **kol_ProductShare's `detail`** (veapi apidoc: "detail商品详情字段 Struct — 更多商品详情
//!   字段,请参考商品详情接口"; `detail=3` "达人版详细版" also carries `kol_cos_ratio`). Asked on
//!   the conversion call itself: one call, no latency added. Where in the reply it sits is
//!   not shown by veapi's example, so `data.detail` is read as a product object, as a list
//!   of them, or as `{products: [...]}`.
//! - **`douke/kol_MaterialsProductsDetails`** (veapi apidoc/douyindouke/321: `product_ids`
//!   comma-separated, at most 20, "如商品推广在抖店后台下架,接口会返回为空"), the fallback for a
//!   message whose share replies carried no details. veapi forwards Douyin's
//!   `buyin.kolMaterialsProductsDetails`, whose reply is `data.products[]` with `total`
//!   (Douyin's open-platform Go SDK, `buyin_kolMaterialsProductsDetails/response`).
//!
//! Field meanings, from that SDK's comments: `price` "商品售价（单位为分）", `coupon_price`
//! "券后价" (the price after the coupon, fen), `cos_ratio` "普通佣金比例（乘100，例如10%为10）",
//! `cos_fee`/`kol_cos_fee` "（单位为分）". Douyin's own sample for the sibling search endpoint
//! sends every value as a string (`"price": "100"`, `"kol_cos_ratio": "10.00"`), so numbers
//! and numeric strings are both read. Money is whole fen only: `"21.00"` reads like yuan and
//! would be shown 100 times off if taken as fen, so such a value is left out, never guessed.
//! A field that is missing, empty or unreadable is `None`; details never fail a conversion.

use super::{VeapiClient, VeapiError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// veapi takes at most this many products a `kol_MaterialsProductsDetails` call.
pub const DETAILS_BATCH: usize = 20;

/// The endpoint of the fallback.
pub const DETAILS_ENDPOINT: &str = "douke/kol_MaterialsProductsDetails";

/// One product as the card shows it. Ratios are in hundredths of a percent (10% = 1000), so
/// the struct stays exact (and comparable) without floats.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_fen: Option<i64>,
    /// 券后价: what the buyer pays with the coupon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon_price_fen: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cover: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shop_name: Option<String>,
    /// This account's commission on one sale: `kol_cos_fee`, else `cos_fee`, else price ×
    /// ratio ([`commission`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission_fen: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cos_ratio_bp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kol_cos_ratio_bp: Option<i64>,
}

impl ProductDetails {
    /// Nothing worth showing: no title, no price, no cover, no shop.
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.price_fen.is_none()
            && self.cover.is_none()
            && self.shop_name.is_none()
    }

    /// The JSON kept with a conversion.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads what [`to_json`](Self::to_json) kept; anything else is no details.
    pub fn from_json(text: &str) -> Option<ProductDetails> {
        serde_json::from_str::<ProductDetails>(text)
            .ok()
            .filter(|d| !d.is_empty())
    }
}

/// Whole fen from a number or a string of digits; `None` for anything else (a fraction, a
/// decimal string, a negative amount, text).
fn fen(v: Option<&Value>) -> Option<i64> {
    let n = match v? {
        Value::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            (f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
        })?,
        Value::String(s) => s.trim().parse::<i64>().ok()?,
        _ => return None,
    };
    // Negative, or beyond ¥10,000,000 (no product costs that; a wrapped or garbled value
    // would otherwise overflow the rebate arithmetic): left out.
    (0..=crate::money::MAX_FEN).contains(&n).then_some(n)
}

/// A ratio given in percent (`10`, `"10.00"`, `12.5`) as hundredths of a percent. Over 100%
/// is no commission ratio at all (some wrappers scale it differently): left out.
fn ratio_bp(v: Option<&Value>) -> Option<i64> {
    let pct = match v? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().trim_end_matches('%').trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (pct.is_finite() && (0.0..=100.0).contains(&pct)).then(|| (pct * 100.0).round() as i64)
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

/// A product id as text, never through a float (ids pass 2^53).
fn id_text(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.as_u64()?.to_string(),
        _ => return None,
    };
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then_some(s)
}

/// The commission on one sale: a positive `kol_cos_fee` (the 达人's own), else a positive
/// `cos_fee`, else price × (kol ratio, else ratio), rounded down. A fee of 0 is read as "not
/// given" (the SDK's zero value), not as "no commission".
pub fn commission(
    kol_cos_fee: Option<i64>,
    cos_fee: Option<i64>,
    price_fen: Option<i64>,
    kol_ratio_bp: Option<i64>,
    ratio_bp: Option<i64>,
) -> Option<i64> {
    let positive = |v: Option<i64>| v.filter(|v| *v > 0);
    positive(kol_cos_fee).or(positive(cos_fee)).or_else(|| {
        let price = positive(price_fen)?;
        let bp = positive(kol_ratio_bp).or(positive(ratio_bp))?;
        Some((price as i128 * bp as i128 / 10_000) as i64)
    })
}

/// One product object in either source's field names. `None` when it holds nothing to show.
pub fn product(obj: &Value) -> Option<ProductDetails> {
    if !obj.is_object() {
        return None;
    }
    let price_fen = fen(obj.get("price"));
    let coupon_price_fen = fen(obj.get("coupon_price"));
    // The buyer pays the price after coupon when there is one: the commission a ratio
    // gives is taken of that.
    let paid_fen = coupon_price_fen
        .filter(|c| *c > 0 && price_fen.is_none_or(|p| *c < p))
        .or(price_fen);
    let cos_ratio_bp = ratio_bp(obj.get("cos_ratio"));
    let kol_cos_ratio_bp = ratio_bp(obj.get("kol_cos_ratio"));
    let details = ProductDetails {
        product_id: id_text(obj.get("product_id")),
        title: text(obj.get("title")),
        price_fen,
        coupon_price_fen,
        cover: text(obj.get("cover")),
        shop_name: text(obj.get("shop_name")),
        commission_fen: commission(
            fen(obj.get("kol_cos_fee")),
            fen(obj.get("cos_fee")),
            paid_fen,
            kol_cos_ratio_bp,
            cos_ratio_bp,
        ),
        cos_ratio_bp,
        kol_cos_ratio_bp,
    };
    (!details.is_empty()).then_some(details)
}

/// Product objects where a reply may hold them: an object, a list, or `{products: [...]}`
/// (also one level down in `data`).
fn products_in(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().filter(|i| i.is_object()).collect(),
        Value::Object(m) => {
            for key in ["products", "list", "data"] {
                if let Some(inner) = m.get(key).filter(|i| i.is_array() || i.is_object()) {
                    let found = products_in(inner);
                    if !found.is_empty() {
                        return found;
                    }
                }
            }
            vec![v]
        }
        _ => Vec::new(),
    }
}

/// The details a kol_ProductShare reply carries (`data.detail`, or `detail` at the top level
/// where veapi flattens the payload), if any.
pub fn from_share_reply(reply: &Value) -> Option<ProductDetails> {
    let detail = reply
        .get("data")
        .and_then(|d| d.get("detail"))
        .or_else(|| reply.get("detail"))?;
    products_in(detail).into_iter().find_map(product)
}

/// The products of a `kol_MaterialsProductsDetails` reply (`data.products`, or a list where
/// the payload is flattened). Products without an id cannot be matched to a request: left out.
pub fn parse_batch(reply: &Value) -> Vec<ProductDetails> {
    let payload = reply.get("data").unwrap_or(reply);
    products_in(payload)
        .into_iter()
        .filter_map(product)
        .filter(|d| d.product_id.is_some())
        .collect()
}

impl VeapiClient {
    /// `kol_MaterialsProductsDetails` for at most [`DETAILS_BATCH`] product ids (more are a
    /// caller's mistake: only the first 20 are asked).
    pub async fn products_details(
        &self,
        ids: &[String],
    ) -> Result<Vec<ProductDetails>, VeapiError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let joined = ids
            .iter()
            .take(DETAILS_BATCH)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(",");
        // veapi's page lists vekey, product_ids, with_share_status and with_brand_info: no
        // account parameter, so a multi-account card gets its default account's view.
        let value = self
            .call(DETAILS_ENDPOINT, &[("product_ids", joined.as_str())])
            .await?;
        Ok(parse_batch(&value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_and_numeric_strings_are_read_the_rest_left_out() {
        let d = product(
            &json!({"product_id": "3583117383482622604", "title": " 猫耳酥 ",
            "price": "5990", "coupon_price": 4990, "cos_ratio": "10.00", "kol_cos_ratio": 12.5,
            "cover": "https://p3-aio.ecombdimg.com/x.jpg", "shop_name": "卡宾熊旗舰店"}),
        )
        .unwrap();
        assert_eq!(d.title.as_deref(), Some("猫耳酥"));
        assert_eq!((d.price_fen, d.coupon_price_fen), (Some(5990), Some(4990)));
        assert_eq!(
            (d.cos_ratio_bp, d.kol_cos_ratio_bp),
            (Some(1000), Some(1250))
        );
        // No fee given: the price after coupon × the kol ratio, rounded down
        // (4990 × 12.5% = 623.75).
        assert_eq!(d.commission_fen, Some(623));
        let d = product(&json!({"title": "t", "price": "59.90", "coupon_price": -1,
            "cos_ratio": 1000, "cover": 7, "shop_name": ""}))
        .unwrap();
        assert_eq!(
            (d.price_fen, d.coupon_price_fen, d.cos_ratio_bp),
            (None, None, None)
        );
        assert_eq!((d.cover, d.shop_name, d.commission_fen), (None, None, None));
        assert_eq!(product(&json!({"cos_fee": 10})), None, "nothing to show");
        assert_eq!(product(&json!("text")), None);
    }

    #[test]
    fn the_commission_prefers_the_kol_fee_then_the_fee_then_the_ratio() {
        assert_eq!(
            commission(Some(30), Some(20), Some(1000), Some(500), Some(100)),
            Some(30)
        );
        assert_eq!(
            commission(Some(0), Some(20), Some(1000), None, None),
            Some(20)
        );
        assert_eq!(
            commission(None, None, Some(1999), None, Some(1000)),
            Some(199)
        );
        assert_eq!(commission(None, None, None, Some(1000), None), None);
        assert_eq!(commission(None, None, Some(100), None, None), None);
    }

    #[test]
    fn the_share_reply_detail_is_found_as_object_list_or_products() {
        let obj =
            json!({"error":"0","data":{"dy_password":"p","detail":{"title":"A","price":100}}});
        assert_eq!(from_share_reply(&obj).unwrap().title.as_deref(), Some("A"));
        let list = json!({"error":"0","data":{"dy_password":"p","detail":[{"title":"B"}]}});
        assert_eq!(from_share_reply(&list).unwrap().title.as_deref(), Some("B"));
        let nested = json!({"error":"0","data":{"detail":{"total":1,"products":[{"title":"C"}]}}});
        assert_eq!(
            from_share_reply(&nested).unwrap().title.as_deref(),
            Some("C")
        );
        let flat = json!({"error":0,"dy_password":"p","detail":{"title":"D"}});
        assert_eq!(from_share_reply(&flat).unwrap().title.as_deref(), Some("D"));
        for none in [
            json!({"error":"0","data":{"dy_password":"p"}}),
            json!({"error":"0","data":{"dy_password":"p","detail":{}}}),
            json!({"error":"0","data":{"dy_password":"p","detail":null}}),
            json!({"error":"0","data":{"dy_password":"p","detail":"x"}}),
        ] {
            assert_eq!(from_share_reply(&none), None, "{none}");
        }
    }

    #[test]
    fn a_ratio_is_taken_of_the_price_after_coupon_and_absurd_amounts_are_left_out() {
        let d =
            product(&json!({"title":"A","price":"5990","coupon_price":"4990","cos_ratio":"10"}))
                .unwrap();
        assert_eq!(d.commission_fen, Some(499));
        // A "coupon price" above the price is no coupon.
        let d =
            product(&json!({"title":"A","price":"5990","coupon_price":"9990","cos_ratio":"10"}))
                .unwrap();
        assert_eq!(d.commission_fen, Some(599));
        let d = product(
            &json!({"title":"A","price":"9223372036854775807","cos_fee":"9223372036854775807"}),
        )
        .unwrap();
        assert_eq!((d.price_fen, d.commission_fen), (None, None));
    }

    #[test]
    fn a_batch_keeps_products_with_ids_exactly() {
        let v = json!({"error":"0","data":{"total":2,"products":[
            {"product_id": 3583117383482622604u64, "title": "A"},
            {"product_id": "3622901944550583125", "title": "B"},
            {"title": "no id"}]}});
        let got: Vec<_> = parse_batch(&v)
            .into_iter()
            .map(|d| d.product_id.unwrap())
            .collect();
        assert_eq!(got, ["3583117383482622604", "3622901944550583125"]);
        assert!(parse_batch(&json!({"error":"0","data":{"total":0,"products":[]}})).is_empty());
        assert!(parse_batch(&json!({"error":"0","data":{}})).is_empty());
    }

    #[test]
    fn kept_json_round_trips_and_junk_is_none() {
        let d = ProductDetails {
            title: Some("<b>x</b>".into()),
            price_fen: Some(1),
            ..Default::default()
        };
        assert_eq!(ProductDetails::from_json(&d.to_json()), Some(d));
        assert_eq!(ProductDetails::from_json("{}"), None);
        assert_eq!(ProductDetails::from_json("not json"), None);
    }
}
