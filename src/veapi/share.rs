//! `douke/kol_ProductShare`: one product reference in, the operator's 抖口令 out.

use super::{ErrorClass, LinkMaker, VeapiClient, VeapiError};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct ShareRequest<'a> {
    /// Product id, URL, short link, colonel link or 抖口令, as the detector found it.
    pub product_url: &'a str,
    pub external_info: &'a str,
    /// Set for colonel (团长) links so the coupon price link comes back.
    pub use_coupon: bool,
}

/// The converted link. Only `dy_password` is guaranteed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareLink {
    pub dy_password: String,
    pub share_link: Option<String>,
    pub dy_deeplink: Option<String>,
    pub dy_zlink: Option<String>,
    pub coupon: Option<Coupon>,
}

impl ShareLink {
    /// The product the link resolved to, read from `share_link`'s `id` parameter. (Never
    /// from a deeplink: its `promotion_id` is not the product id.)
    pub fn product_id(&self) -> Option<String> {
        let url = url::Url::parse(self.share_link.as_deref()?).ok()?;
        url.query_pairs()
            .find(|(k, _)| k == "id")
            .map(|(_, v)| v.into_owned())
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
    }
}

/// A converted link with the product's details, when the reply carried them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detailed {
    pub link: ShareLink,
    pub details: Option<super::ProductDetails>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coupon {
    pub share_command: String,
    pub share_link: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default)]
    dy_password: Option<String>,
    #[serde(default)]
    share_link: Option<String>,
    #[serde(default)]
    dy_deeplink: Option<String>,
    #[serde(default)]
    dy_zlink: Option<String>,
    #[serde(default)]
    coupon_link: Option<CouponData>,
}

#[derive(Deserialize)]
struct CouponData {
    #[serde(default)]
    share_command: Option<String>,
    #[serde(default)]
    share_link: Option<String>,
}

pub(super) fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

/// Reads a success envelope: `data` normally, the top level where veapi flattens it.
pub(crate) fn parse_share(value: Value) -> Result<ShareLink, VeapiError> {
    let data = match value.get("data") {
        Some(d @ Value::Object(m)) if m.contains_key("dy_password") => d.clone(),
        _ => value,
    };
    let data: Data = serde_json::from_value(data)
        .map_err(|e| VeapiError::Transport(format!("kol_ProductShare: unexpected reply ({e})")))?;
    let Some(dy_password) = non_empty(data.dy_password) else {
        return Err(VeapiError::Api {
            class: ErrorClass::Other,
            code: "0".into(),
            msg: "转链成功但没有返回抖口令".into(),
            request_id: None,
        });
    };
    let coupon = data.coupon_link.and_then(|c| {
        non_empty(c.share_command).map(|share_command| Coupon {
            share_command,
            share_link: non_empty(c.share_link),
        })
    });
    Ok(ShareLink {
        dy_password,
        share_link: non_empty(data.share_link),
        dy_deeplink: non_empty(data.dy_deeplink),
        dy_zlink: non_empty(data.dy_zlink),
        coupon,
    })
}

/// `douke/kol_ProductShare` (`VEAPI_PROVIDER=kol` and `douke`).
impl LinkMaker for VeapiClient {
    fn share<'a>(
        &'a self,
        req: &'a ShareRequest<'a>,
    ) -> BoxFuture<'a, Result<ShareLink, VeapiError>> {
        Box::pin(self.product_share(req))
    }

    fn share_detailed<'a>(
        &'a self,
        req: &'a ShareRequest<'a>,
    ) -> BoxFuture<'a, Result<Detailed, VeapiError>> {
        Box::pin(self.product_share_detailed(req))
    }

    fn details<'a>(
        &'a self,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<super::ProductDetails>, VeapiError>> {
        Box::pin(self.products_details(ids))
    }

    fn saturated(&self) -> bool {
        self.saturated()
    }
}

/// What `detail` asks kol_ProductShare for: 3, "达人版详细版", the one veapi recommends ("推荐3,
/// 可返回普通佣金和正常佣金kol_cos_ratio字段").
const DETAIL_LEVEL: &str = "3";

impl VeapiClient {
    pub async fn product_share(&self, req: &ShareRequest<'_>) -> Result<ShareLink, VeapiError> {
        parse_share(self.product_share_call(req, None).await?)
    }

    /// [`product_share`](Self::product_share) with `detail=3`: the link, and the product's
    /// details when the reply carries them (their absence or a shape the bot cannot read
    /// costs the card, never the link).
    pub async fn product_share_detailed(
        &self,
        req: &ShareRequest<'_>,
    ) -> Result<Detailed, VeapiError> {
        let value = self.product_share_call(req, Some(DETAIL_LEVEL)).await?;
        let details = super::details::from_share_reply(&value);
        Ok(Detailed {
            link: parse_share(value)?,
            details,
        })
    }

    async fn product_share_call(
        &self,
        req: &ShareRequest<'_>,
        detail: Option<&str>,
    ) -> Result<Value, VeapiError> {
        let cfg = self.config();
        let mut params: Vec<(&str, &str)> = vec![
            ("productUrl", req.product_url),
            ("external_info", req.external_info),
        ];
        if req.use_coupon {
            params.push(("use_coupon", "true"));
        }
        if let Some(pid) = &cfg.pid {
            params.push(("pid", pid));
        }
        if let Some(t) = &cfg.access_token {
            params.push(("access_token", t.expose()));
        }
        if let Some(a) = &cfg.account_id {
            params.push(("account_id", a));
        }
        if let Some(level) = detail {
            params.push(("detail", level));
        }
        self.call(super::Provider::Kol.share_endpoint(), &params)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn coupon_members_null_means_no_coupon() {
        let v = json!({"error":"0","data":{"dy_password":"口令","coupon_link":{"coupon_status":1,"share_command":null,"share_link":null,"deeplink":null}}});
        let s = parse_share(v).unwrap();
        assert_eq!(s.dy_password, "口令");
        assert_eq!(s.coupon, None);
    }

    #[test]
    fn top_level_payload_is_accepted() {
        let v = json!({"error":0,"dy_password":"口令","coupon_link":{"share_command":"券口令"}});
        let s = parse_share(v).unwrap();
        assert_eq!(s.coupon.unwrap().share_command, "券口令");
    }

    #[test]
    fn the_product_id_comes_from_the_share_link() {
        let v = json!({"error":"0","data":{"dy_password":"p","dy_deeplink":"snssdk1128://ec_goods_detail/?promotion_id=3471556980941674",
            "share_link":"https://haohuo.jinritemai.com/ecommerce/trade/detail/index.html?id=3583117383482622604&origin_type=product_distribution"}});
        assert_eq!(
            parse_share(v).unwrap().product_id().as_deref(),
            Some("3583117383482622604")
        );
        let v = json!({"error":"0","data":{"dy_password":"p"}});
        assert_eq!(parse_share(v).unwrap().product_id(), None);
    }

    #[test]
    fn success_without_password_is_an_error() {
        assert!(parse_share(json!({"error":"0","data":{}})).is_err());
    }
}
