//! 穿山甲 (`VEAPI_PROVIDER=csj`): `douke/csj_productlink` converts, `douke/csj_ordersearch`
//! lists orders.
//!
//! veapi's kol_ProductShare page says the 精选联盟 platform closed and that these endpoints
//! replace it (commissions settled in veapi's member centre). Sources:
//! - `csj_productlink`: veapi.cn/apidoc/douyindouke/371 (parameters; tracking 15 days,
//!   "不锁佣"; its example sends a bare product id). Its reply fields are not documented,
//!   so the reply is read leniently: the kol reply's names first, then the names of
//!   ByteDance's `share_info` (`share_command`, `deeplink`, `zlink`, `share_link`), and a
//!   success without a password is reported with the reply's keys, never guessed at.
//! - `csj_ordersearch`: veapi.cn/apidoc/douyindouke/378 (window paging with `size` ≤ 50
//!   and `cursor` `"0"` … `""`, or `order_ids` alone). The orders' shape is that of two
//!   public samples of the same upstream search (doc.huajuanyun.com
//!   `dhcc.douyin.order.search`, wiki.yunzmall.com `tiktok-cps` order list): the kol
//!   names, `external_info` at the top level, `after_sales_status` 2 with `flow_point`
//!   `REFUND`, and the settled commission as `ads_real_commission`.

use super::orders::{joined_ids, parse_orders_with, window_params};
use super::share::non_empty;
use super::{
    Coupon, Detailed, ErrorClass, LinkMaker, OrderSource, OrdersPage, Provider, ShareLink,
    ShareRequest, VeapiClient, VeapiError, Window,
};
use futures::future::BoxFuture;
use serde_json::Value;

/// `csj_ordersearch` takes `size` up to 50.
pub const CSJ_PAGE_SIZE: usize = 50;

/// What `share_type` asks for: `3` the 抖口令, `5` the share link (the store reads the
/// converted product's id from it: [`ShareLink::product_id`], kept with each conversion).
/// Never `2` (a QR code: slow) unless asked for.
const SHARE_TYPES: &str = "3,5";

/// `csj_productlink`.
pub struct CsjLinks(pub VeapiClient);

/// `csj_ordersearch`.
pub struct CsjOrders(pub VeapiClient);

impl LinkMaker for CsjLinks {
    fn share<'a>(
        &'a self,
        req: &'a ShareRequest<'a>,
    ) -> BoxFuture<'a, Result<ShareLink, VeapiError>> {
        Box::pin(async move { Ok(self.share_detailed(req).await?.link) })
    }

    /// csj_productlink documents `detail` (0/1/2) but no reply fields for it, so it is not
    /// asked (no latency added for fields nobody has seen); a reply that carries a `detail`
    /// anyway is read as kol_ProductShare's is. No fallback lookup: csj accounts need not
    /// have the 达人/抖客 authorization kol_MaterialsProductsDetails requires.
    fn share_detailed<'a>(
        &'a self,
        req: &'a ShareRequest<'a>,
    ) -> BoxFuture<'a, Result<Detailed, VeapiError>> {
        Box::pin(async move {
            // Documented: vekey, product_url (a product id or product URL, "与商品接口
            // detail_url一致"), product_ext, external_info (≤ 33 of [A-Za-z0-9_]),
            // share_type, platform, use_coupon (0/1), detail.
            let mut params: Vec<(&str, &str)> = vec![
                ("product_url", req.product_url),
                ("external_info", req.external_info),
                ("share_type", SHARE_TYPES),
            ];
            if req.use_coupon {
                params.push(("use_coupon", "1"));
            }
            let value = self.0.call(Provider::Csj.share_endpoint(), &params).await?;
            let details = super::details::from_share_reply(&value)
                .or_else(|| value.get("data").and_then(super::details::from_share_reply));
            Ok(Detailed {
                link: parse_link(value)?,
                details,
            })
        })
    }
}

/// The first non-empty text among `names` in `obj`.
fn first_text(obj: &Value, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| match obj.get(*n) {
        Some(Value::String(s)) => non_empty(Some(s.clone())),
        _ => None,
    })
}

/// Reads a `csj_productlink` success. The payload sits in `data` (or `data.data`, or the top
/// level); each field under the kol reply's name or a plain one.
pub(crate) fn parse_link(value: Value) -> Result<ShareLink, VeapiError> {
    const PASSWORD: &[&str] = &["dy_password", "password", "share_command", "dy_command"];
    let candidates = [
        value.get("data").and_then(|d| d.get("data")),
        value.get("data"),
        Some(&value),
    ];
    let Some((payload, dy_password)) = candidates
        .into_iter()
        .flatten()
        .filter(|v| v.is_object())
        .find_map(|v| first_text(v, PASSWORD).map(|p| (v, p)))
    else {
        let mut keys: Vec<String> = value
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        if let Some(Value::Object(d)) = value.get("data") {
            keys.extend(d.keys().map(|k| format!("data.{k}")));
        }
        return Err(VeapiError::Api {
            class: ErrorClass::Unexpected,
            code: "0".into(),
            msg: format!(
                "csj_productlink answered success without a 抖口令 (reply keys: {})",
                keys.join(", ")
            ),
            request_id: value
                .get("request_id")
                .and_then(Value::as_str)
                .map(str::to_string),
        });
    };
    let coupon = ["coupon_link", "coupon"]
        .iter()
        .find_map(|k| payload.get(*k).filter(|c| c.is_object()))
        .and_then(|c| {
            first_text(c, &["share_command", "dy_password", "password"]).map(|share_command| {
                Coupon {
                    share_command,
                    share_link: first_text(c, &["share_link", "link"]),
                }
            })
        });
    Ok(ShareLink {
        dy_password,
        share_link: first_text(payload, &["share_link", "link", "share_url"]),
        dy_deeplink: first_text(payload, &["dy_deeplink", "deeplink", "deep_link"]),
        dy_zlink: first_text(payload, &["dy_zlink", "zlink"]),
        coupon,
    })
}

impl OrderSource for CsjOrders {
    fn page<'a>(
        &'a self,
        window: &'a Window,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<OrdersPage, VeapiError>> {
        Box::pin(async move {
            // Documented: size (≤ 50), cursor ("0" or absent first, "" at the end),
            // start_time/end_time (China time, ≤ 90 days), order_ids (≤ 10), time_type,
            // order_type.
            let size = CSJ_PAGE_SIZE.to_string();
            let params = window_params(window, &size, Some(cursor.unwrap_or("0")));
            parse_csj_orders(
                self.0
                    .call(Provider::Csj.orders_endpoint(), &params)
                    .await?,
            )
        })
    }

    /// How full this endpoint's pages are is not documented: follow every new cursor.
    fn short_page_is_last(&self) -> bool {
        false
    }

    fn page_size(&self) -> usize {
        CSJ_PAGE_SIZE
    }

    fn provider(&self) -> Provider {
        Provider::Csj
    }

    fn by_ids<'a>(&'a self, ids: &'a [&'a str]) -> BoxFuture<'a, Result<OrdersPage, VeapiError>> {
        Box::pin(async move {
            let joined = joined_ids(ids);
            let params = [("order_ids", joined.as_str())];
            parse_csj_orders(
                self.0
                    .call(Provider::Csj.orders_endpoint(), &params)
                    .await?,
            )
        })
    }
}

/// `csj_ordersearch`'s orders in the bot's model: `external_info` at the top level (read
/// by [`super::Order::attribution`] as it is), and a refund shown as `after_sales_status`
/// `2` whatever `flow_point` says.
///
/// csj's order fields beyond those are read under the kol names. An order whose state or
/// paid amount cannot be read that way is unreadable (its window held, the operators told),
/// never told as a ¥0 order that never settles.
pub fn parse_csj_orders(value: Value) -> Result<OrdersPage, VeapiError> {
    parse_orders_with(value, Some(&csj_order))
}

/// One csj order entry in the kol shape.
fn csj_order(item: &mut Value) -> Result<(), String> {
    let Some(obj) = item.as_object_mut() else {
        return Err("csj order entry is not an object".into());
    };
    if obj.get("total_pay_amount").is_none_or(Value::is_null) {
        return Err("csj order without total_pay_amount".into());
    }
    let refunded = match obj.get("after_sales_status") {
        Some(Value::Number(n)) => n.as_i64() == Some(2),
        Some(Value::String(s)) => s.trim() == "2",
        _ => false,
    };
    if refunded {
        obj.insert("flow_point".into(), Value::String("REFUND".into()));
    }
    // The settled commission (kol: `real_commission`).
    if obj.get("real_commission").is_none_or(Value::is_null) {
        if let Some(settled) = obj.get("ads_real_commission").cloned() {
            obj.insert("real_commission".into(), settled);
        }
    }
    let state = obj.get("flow_point").and_then(Value::as_str).unwrap_or("");
    match state.trim().to_ascii_uppercase().as_str() {
        "PAY_SUCC" | "CONFIRM" | "SETTLE" | "REFUND" => Ok(()),
        _ => Err(format!(
            "csj order state {state:?} is not one the bot knows"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::veapi::FlowPoint;
    use serde_json::json;

    #[test]
    fn the_kol_names_are_read_first_and_plain_names_too() {
        let v = json!({"error":"0","data":{"dy_password":"8口令8","share_link":"https://haohuo.jinritemai.com/x?id=1","dy_zlink":"z"}});
        let l = parse_link(v).unwrap();
        assert_eq!(l.dy_password, "8口令8");
        assert_eq!(l.dy_zlink.as_deref(), Some("z"));
        let v = json!({"error":"0","data":{"password":"p","deeplink":"d","zlink":"z","coupon":{"share_command":"券"}}});
        let l = parse_link(v).unwrap();
        assert_eq!(
            (l.dy_password.as_str(), l.dy_deeplink.as_deref()),
            ("p", Some("d"))
        );
        assert_eq!(l.coupon.unwrap().share_command, "券");
        let v = json!({"error":"0","data":{"data":{"dy_password":"nested"}}});
        assert_eq!(parse_link(v).unwrap().dy_password, "nested");
    }

    #[test]
    fn no_password_is_reported_with_the_keys_never_guessed() {
        let v =
            json!({"error":"0","msg":"ok","data":{"qr_code":"x","url":"https://v.douyin.com/a/"}});
        let e = parse_link(v).unwrap_err();
        assert_eq!(e.class(), ErrorClass::Unexpected);
        let msg = e.upstream_msg().unwrap();
        assert!(
            msg.contains("data.qr_code") && msg.contains("data.url"),
            "{msg}"
        );
    }

    #[test]
    fn after_sales_status_2_is_a_refund() {
        let v = json!({"error":"0","data":{"cursor":"","orders":[
            {"order_id":"1","flow_point":"PAY_SUCC","after_sales_status":2,"external_info":"x","total_pay_amount":100},
            {"order_id":"2","flow_point":"SETTLE","after_sales_status":"0","total_pay_amount":"100","ads_real_commission":415},
            {"order_id":"3","status":"paid","total_pay_amount":100},
            {"order_id":4,"flow_point":"PAY_SUCC","pay_amount":100}]}});
        let page = parse_csj_orders(v).unwrap();
        assert_eq!(page.orders[0].flow(), FlowPoint::Refunded);
        assert_eq!(page.orders[0].attribution(), Some("x"));
        assert_eq!(page.orders[1].flow(), FlowPoint::Settled);
        assert_eq!(page.orders[1].real_commission, 415);
        assert_eq!(page.cursor, None);
        // Never guessed: an unknown state, a missing amount.
        let bad: Vec<_> = page
            .unreadable
            .iter()
            .map(|u| u.order_id.clone().unwrap())
            .collect();
        assert_eq!(bad, ["3", "4"]);
        assert_eq!(page.orders.len(), 2);
    }
}
