//! The bot's order model, read from every provider's orders, and
//! `douyin/alliance_kol_orders`: the 达人's orders, page by page.
//!
//! Parsing is tolerant where upstream is vague (where the list and the cursor live, ids as
//! strings or big numbers, money as numbers or digit strings) and strict where it matters:
//! ids never pass through a float, money stays integer fen.

use super::{Provider, VeapiClient, VeapiError};
use futures::future::BoxFuture;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Orders per page: the endpoint's maximum.
pub const PAGE_SIZE: u32 = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidInfo {
    #[serde(default, deserialize_with = "loose_text")]
    pub pid: String,
    /// Attribution: read strictly.
    #[serde(default, deserialize_with = "text")]
    pub external_info: String,
    #[serde(default, deserialize_with = "loose_text")]
    pub media_type_name: String,
}

/// One order, every field of veapi's table. Money in fen, times in China time as upstream
/// sends them.
///
/// What the bot uses (the ids, the state, the amounts it shows, the times, the attribution)
/// is read strictly: an order whose used field cannot be read exactly is unreadable, never
/// guessed. Everything else is read leniently and never makes an order unreadable: text
/// fields take whatever JSON came, and numbers the bot never looks at are kept as upstream
/// sent them (`commission_rate` as `20.5`, `"2000"` or missing alike).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    #[serde(deserialize_with = "id")]
    pub order_id: String,
    #[serde(default, deserialize_with = "id")]
    pub product_id: String,
    #[serde(default, deserialize_with = "text")]
    pub product_name: String,
    #[serde(default, deserialize_with = "loose_text")]
    pub product_img: String,
    #[serde(default, deserialize_with = "loose_text")]
    pub author_account: String,
    #[serde(default, deserialize_with = "loose_text")]
    pub author_openid: String,
    #[serde(default, deserialize_with = "loose_text")]
    pub shop_name: String,
    #[serde(default, deserialize_with = "loose_text")]
    pub shop_id: String,
    #[serde(default, deserialize_with = "fen")]
    pub total_pay_amount: i64,
    /// ×10000 per the seed; not used by the bot, kept as sent.
    #[serde(default)]
    pub commission_rate: Value,
    #[serde(default, deserialize_with = "text")]
    pub flow_point: String,
    #[serde(default, deserialize_with = "loose_text")]
    pub app: String,
    #[serde(default, deserialize_with = "text")]
    pub update_time: String,
    #[serde(default, deserialize_with = "text")]
    pub pay_success_time: String,
    #[serde(default, deserialize_with = "text")]
    pub settle_time: String,
    #[serde(default)]
    pub pay_goods_amount: Value,
    #[serde(default)]
    pub settled_goods_amount: Value,
    #[serde(default, deserialize_with = "fen")]
    pub estimated_commission: i64,
    #[serde(default, deserialize_with = "fen")]
    pub real_commission: i64,
    #[serde(default, deserialize_with = "loose_text")]
    pub extra: String,
    #[serde(default)]
    pub item_num: Value,
    #[serde(default, deserialize_with = "text")]
    pub refund_time: String,
    #[serde(default, deserialize_with = "pid_info")]
    pub pid_info: Option<PidInfo>,
    #[serde(default)]
    pub estimated_total_commission: Value,
    #[serde(default)]
    pub estimated_tech_service_fee: Value,
    #[serde(default, deserialize_with = "loose_text")]
    pub pick_source_client_key: String,
    #[serde(default, deserialize_with = "text")]
    pub pick_extra: String,
    #[serde(default, deserialize_with = "loose_text")]
    pub author_short_id: String,
    #[serde(default, deserialize_with = "loose_text")]
    pub media_type: String,
    /// Some veapi endpoints put it at the top level of each order.
    #[serde(default, deserialize_with = "text")]
    pub external_info: String,
}

/// Where an order's lifecycle is. Upstream: `PAY_SUCC` → `CONFIRM` → `SETTLE`, or `REFUND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowPoint {
    Paid,
    Confirmed,
    Settled,
    Refunded,
    Unknown,
}

impl Order {
    /// The tracking value given at conversion: `pid_info.external_info`, then a top-level
    /// `external_info`, then `pick_extra`.
    pub fn attribution(&self) -> Option<&str> {
        let pid = self.pid_info.as_ref().map(|p| p.external_info.as_str());
        [
            pid,
            Some(self.external_info.as_str()),
            Some(self.pick_extra.as_str()),
        ]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|s| !s.is_empty())
    }

    pub fn flow(&self) -> FlowPoint {
        match self.flow_point.trim().to_ascii_uppercase().as_str() {
            "PAY_SUCC" => FlowPoint::Paid,
            "CONFIRM" => FlowPoint::Confirmed,
            "SETTLE" => FlowPoint::Settled,
            "REFUND" => FlowPoint::Refunded,
            _ => FlowPoint::Unknown,
        }
    }
}

/// One page of orders and the cursor of the next (None: this was the last page).
#[derive(Debug, Clone, Default)]
pub struct OrdersPage {
    pub orders: Vec<Order>,
    pub cursor: Option<String>,
    /// Entries that could not be read as orders: never dropped silently, the poller keeps
    /// their window for the next poll and tells the operators.
    pub unreadable: Vec<Unreadable>,
}

impl OrdersPage {
    /// How many entries upstream put on this page, read or not (for the short-page rule).
    pub fn len(&self) -> usize {
        self.orders.len() + self.unreadable.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An entry of an orders page that could not be read: which order (when its id could be
/// read) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub order_id: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.order_id {
            Some(id) => write!(f, "order {id}: {}", self.reason),
            None => write!(f, "an order without a readable id: {}", self.reason),
        }
    }
}

/// A time window in China time, `YYYY-MM-DD HH:MM:SS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub start: String,
    pub end: String,
}

/// Where orders come from: one implementation per provider ([`super::Provider`]).
pub trait OrderSource: Send + Sync + 'static {
    /// One page of orders updated within `window`; `cursor` None asks for the first page.
    fn page<'a>(
        &'a self,
        window: &'a Window,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<OrdersPage, VeapiError>>;

    /// Orders asked for per page: a shorter page is the last one.
    fn page_size(&self) -> usize {
        PAGE_SIZE as usize
    }

    /// Whether a page shorter than [`page_size`](Self::page_size) is known to be the last
    /// whatever cursor comes with it (kol: upstream fills every page but the last). Where
    /// that is not known, a new cursor is followed (the pager's guards against cursors that
    /// repeat or bring nothing new still end the window).
    fn short_page_is_last(&self) -> bool {
        true
    }

    /// Which provider these orders come from: the poll watermark is kept per provider
    /// (required: a source that defaulted to another's would share its watermark).
    fn provider(&self) -> Provider;

    /// Looks orders up by id (at most 10).
    fn by_ids<'a>(&'a self, ids: &'a [&'a str]) -> BoxFuture<'a, Result<OrdersPage, VeapiError>>;
}

/// `douyin/alliance_kol_orders`, the 达人's orders (`VEAPI_PROVIDER=kol`).
impl OrderSource for VeapiClient {
    fn page<'a>(
        &'a self,
        window: &'a Window,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<OrdersPage, VeapiError>> {
        Box::pin(self.kol_orders(window, cursor))
    }

    fn provider(&self) -> Provider {
        Provider::Kol
    }

    fn by_ids<'a>(&'a self, ids: &'a [&'a str]) -> BoxFuture<'a, Result<OrdersPage, VeapiError>> {
        Box::pin(self.orders_by_ids(ids))
    }
}

impl VeapiClient {
    /// One page of orders updated within `window` (`time_type=update`).
    pub async fn kol_orders(
        &self,
        window: &Window,
        cursor: Option<&str>,
    ) -> Result<OrdersPage, VeapiError> {
        let size = PAGE_SIZE.to_string();
        let mut params = window_params(window, &size, cursor);
        self.push_account_params(&mut params);
        parse_orders(self.call(Provider::Kol.orders_endpoint(), &params).await?)
    }

    /// Looks orders up by id (at most 10 per call, as upstream allows).
    pub async fn orders_by_ids(&self, ids: &[&str]) -> Result<OrdersPage, VeapiError> {
        let joined = joined_ids(ids);
        let mut params: Vec<(&str, &str)> = vec![("order_ids", &joined)];
        self.push_account_params(&mut params);
        parse_orders(self.call(Provider::Kol.orders_endpoint(), &params).await?)
    }

    fn push_account_params<'a>(&'a self, params: &mut Vec<(&'a str, &'a str)>) {
        let cfg = self.config();
        if let Some(s) = &cfg.sessionkey {
            params.push(("sessionkey", s.expose()));
        }
        if let Some(o) = &cfg.open_id {
            params.push(("open_id", o));
        }
    }
}

/// The parameters every provider's order endpoint takes for one page: orders updated
/// (`time_type=update`) within `window`, `size` a page, from `cursor` (none: not sent).
pub(crate) fn window_params<'a>(
    window: &'a Window,
    size: &'a str,
    cursor: Option<&'a str>,
) -> Vec<(&'static str, &'a str)> {
    let mut params = vec![
        ("time_type", "update"),
        ("start_time", window.start.as_str()),
        ("end_time", window.end.as_str()),
        ("size", size),
    ];
    if let Some(c) = cursor {
        params.push(("cursor", c));
    }
    params
}

/// `order_ids`: at most 10, comma-separated, as every order endpoint takes them.
pub(crate) fn joined_ids(ids: &[&str]) -> String {
    ids.iter().take(10).copied().collect::<Vec<_>>().join(",")
}

/// Reads an orders reply: the list at `data.orders`, `data.list`, `data` itself, or the top
/// level; the cursor at `data.cursor` or the top level.
///
/// A list that is present but `null` (`{"orders": null, "cursor": "0"}`) or `[]` is an empty
/// page, and so is `data: {}`. A reply with no list anywhere and nothing where one could be
/// (`data: null`, no `data`, `data` holding something else) is an error: reading it as an
/// empty page would move the watermark over orders nobody read.
pub fn parse_orders(value: Value) -> Result<OrdersPage, VeapiError> {
    parse_orders_with(value, None)
}

/// Maps one provider's order entry into the kol shape before it is read, or says why it
/// cannot be read.
pub(crate) type Adapt = dyn Fn(&mut Value) -> Result<(), String> + Sync;

/// [`parse_orders`] for a provider whose entries `adapt` first maps into the kol shape
/// (an entry it refuses is unreadable, with its reason).
pub(crate) fn parse_orders_with(
    value: Value,
    adapt: Option<&Adapt>,
) -> Result<OrdersPage, VeapiError> {
    let data = value.get("data").unwrap_or(&Value::Null);
    let slots = [
        data.get("orders"),
        data.get("list"),
        data.is_array().then_some(data),
        value.get("orders"),
        value.get("list"),
    ];
    let list = slots.into_iter().flatten().find(|v| v.is_array());
    let null_list = slots.into_iter().flatten().any(Value::is_null);
    let empty_data = data.as_object().is_some_and(|m| m.is_empty());
    if list.is_none() && !null_list && !empty_data {
        let what = match data {
            Value::Null => "no data",
            _ => "no order list",
        };
        return Err(VeapiError::Transport(format!(
            "orders: {what} in the reply"
        )));
    }
    let cursor = data
        .get("cursor")
        .filter(|c| !c.is_null())
        .or_else(|| value.get("cursor"))
        .and_then(|c| match c {
            Value::String(s) => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .filter(|c| !c.is_empty() && c != "0");

    let mut page = OrdersPage {
        cursor,
        ..Default::default()
    };
    for item in list.and_then(Value::as_array).into_iter().flatten() {
        // Copied only where a provider maps its entries.
        let mut item = std::borrow::Cow::Borrowed(item);
        let order_id = item
            .get("order_id")
            .and_then(|v| match v {
                Value::String(s) => Some(s.trim().to_string()),
                Value::Number(n) => number_text(n).ok(),
                _ => None,
            })
            .filter(|s| !s.is_empty());
        if let Some(adapt) = adapt {
            if let Err(reason) = adapt(item.to_mut()) {
                page.unreadable.push(Unreadable { order_id, reason });
                continue;
            }
        }
        match Order::deserialize(&*item) {
            Ok(o) if !o.order_id.is_empty() => page.orders.push(o),
            Ok(_) => page.unreadable.push(Unreadable {
                order_id: None,
                reason: "order without order_id".into(),
            }),
            Err(e) => page.unreadable.push(Unreadable {
                order_id: order_id.or_else(|| item.get("order_id").map(Value::to_string)),
                reason: e.to_string(),
            }),
        }
    }
    Ok(page)
}

/// Text the bot never reads: whatever JSON came, never an error.
fn loose_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => String::new(),
        Value::String(s) => s,
        other => other.to_string(),
    })
}

fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => String::new(),
        Value::String(s) => s,
        Value::Number(n) => number_text(&n).map_err(serde::de::Error::custom)?,
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    })
}

fn id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    text(d).map(|s| s.trim().to_string())
}

/// Integers print exactly; a number that JSON could only hold as a float (above 2^64, or
/// with a fraction) would have lost digits, so it is refused rather than guessed.
fn number_text(n: &serde_json::Number) -> Result<String, String> {
    if let Some(u) = n.as_u64() {
        Ok(u.to_string())
    } else if let Some(i) = n.as_i64() {
        Ok(i.to_string())
    } else {
        Err(format!("number {n} cannot be read exactly"))
    }
}

fn fen<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = fen_value(Value::deserialize(d)?)?;
    // Beyond ¥10,000,000 (or negative beyond it) no order goes: a garbled value would
    // overflow the rebate arithmetic. Unreadable, never guessed.
    if n.abs() > crate::money::MAX_FEN {
        return Err(serde::de::Error::custom(format!(
            "amount {n} fen is out of range"
        )));
    }
    Ok(n)
}

fn fen_value<E: serde::de::Error>(v: Value) -> Result<i64, E> {
    match v {
        Value::Null => Ok(0),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| whole(n.as_f64()?))
            .ok_or_else(|| E::custom(format!("amount {n} is not whole fen"))),
        Value::String(s) if s.trim().is_empty() => Ok(0),
        // Only digits: `"21.00"` reads like yuan and would be shown 100 times too small if
        // taken as fen, so a string with a point (or anything else) is not guessed at.
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| E::custom(format!("amount {s:?} is not whole fen"))),
        other => Err(E::custom(format!("amount {other} is not a number"))),
    }
}

/// `2100.0` is 2100 fen; `21.5` fen does not exist and is refused rather than rounded.
fn whole(f: f64) -> Option<i64> {
    (f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
}

fn pid_info<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PidInfo>, D::Error> {
    match Value::deserialize(d)? {
        Value::Object(m) => PidInfo::deserialize(Value::Object(m))
            .map(Some)
            .map_err(serde::de::Error::custom),
        // Some replies carry it JSON-encoded in a string.
        Value::String(s) if s.trim_start().starts_with('{') => serde_json::from_str(&s)
            .map(Some)
            .map_err(serde::de::Error::custom),
        // Nothing there, in every way PHP and JSON say it: no attribution in this snapshot.
        Value::Null => Ok(None),
        Value::Array(a) if a.is_empty() => Ok(None),
        Value::String(s) if matches!(s.trim(), "" | "null" | "[]") => Ok(None),
        // The attribution lives here: something else in its place is not guessed at.
        other => Err(serde::de::Error::custom(format!(
            "pid_info {other} is not an object"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seed_order() -> Value {
        json!({
            "order_id": "4737996432465788974", "product_id": "3450632721376902816",
            "product_name": "测试商品", "product_img": "https://tosv.boe.byted.org/obj/temai/x",
            "author_account": "我的昵称", "author_openid": "f190e172-5fd8-4b7b-babb-f32323e60f7b",
            "shop_name": "我的店铺", "total_pay_amount": 2100, "commission_rate": 2000,
            "flow_point": "PAY_SUCC", "app": "抖音", "update_time": "2006-01-02 15:04:05",
            "pay_success_time": "2006-01-02 15:04:05", "settle_time": "",
            "pay_goods_amount": 1100, "settled_goods_amount": 0, "estimated_commission": 165,
            "real_commission": 0, "extra": "其他", "item_num": 1, "shop_id": 12345,
            "refund_time": "", "pid_info": {"pid": "dy_1_2_3", "external_info": "dlb_rt1", "media_type_name": "站外"},
            "estimated_total_commission": 580, "estimated_tech_service_fee": 58,
            "pick_source_client_key": "jifji32rnu3jit43", "pick_extra": "dddd",
            "author_short_id": "4234123474", "media_type": "shop_list"
        })
    }

    #[test]
    fn every_seed_field_is_read() {
        let page = parse_orders(
            json!({"error":"0","data":{"orders":[seed_order()],"cursor":"6917944236115432742"}}),
        )
        .unwrap();
        let o = &page.orders[0];
        assert_eq!(o.order_id, "4737996432465788974");
        assert_eq!(o.product_id, "3450632721376902816");
        assert_eq!(
            (
                o.total_pay_amount,
                o.estimated_commission,
                o.real_commission
            ),
            (2100, 165, 0)
        );
        assert_eq!(o.commission_rate, json!(2000));
        assert_eq!(
            (&o.pay_goods_amount, &o.settled_goods_amount),
            (&json!(1100), &json!(0))
        );
        assert_eq!(
            (
                &o.estimated_total_commission,
                &o.estimated_tech_service_fee,
                &o.item_num
            ),
            (&json!(580), &json!(58), &json!(1))
        );
        assert_eq!(o.shop_id, "12345");
        assert_eq!(o.flow(), FlowPoint::Paid);
        assert_eq!(o.media_type, "shop_list");
        assert_eq!(o.author_short_id, "4234123474");
        assert_eq!(o.attribution(), Some("dlb_rt1"));
        assert_eq!(page.cursor.as_deref(), Some("6917944236115432742"));
    }

    #[test]
    fn big_number_ids_keep_every_digit() {
        let raw = r#"{"error":0,"data":{"orders":[{"order_id":4737996432465788974,"product_id":3450632721376902816,"total_pay_amount":"2100"}],"cursor":4737996432465788975}}"#;
        let page = parse_orders(serde_json::from_str(raw).unwrap()).unwrap();
        assert_eq!(page.orders[0].order_id, "4737996432465788974");
        assert_eq!(page.orders[0].product_id, "3450632721376902816");
        assert_eq!(page.orders[0].total_pay_amount, 2100);
        assert_eq!(page.cursor.as_deref(), Some("4737996432465788975"));
    }

    #[test]
    fn ids_too_big_for_exact_numbers_are_refused_not_rounded() {
        let raw = r#"{"data":{"orders":[{"order_id":47379964324657889741234}]}}"#;
        let page = parse_orders(serde_json::from_str(raw).unwrap()).unwrap();
        assert!(page.orders.is_empty());
        assert_eq!(page.unreadable.len(), 1);
    }

    #[test]
    fn attribution_falls_back_from_pid_info_to_top_level_to_pick_extra() {
        let mut o = seed_order();
        o.as_object_mut().unwrap().remove("pid_info");
        o["external_info"] = json!("dlb_top1");
        let page = parse_orders(json!({"data": {"orders": [o.clone()]}})).unwrap();
        assert_eq!(page.orders[0].attribution(), Some("dlb_top1"));
        o["external_info"] = json!("");
        o["pid_info"] = json!(null);
        let page = parse_orders(json!({"data": {"orders": [o]}})).unwrap();
        assert_eq!(page.orders[0].attribution(), Some("dddd"));
    }

    #[test]
    fn an_empty_pid_info_in_any_spelling_is_no_attribution() {
        // PHP relays encode an empty object as `[]`; some put it in a string.
        for empty in [json!([]), json!(""), json!("null"), json!("[]"), json!({})] {
            let mut o = seed_order();
            o["pid_info"] = empty.clone();
            o["external_info"] = json!("");
            let page = parse_orders(json!({"data": {"orders": [o]}})).unwrap();
            assert_eq!(page.unreadable.len(), 0, "{empty}");
            assert_eq!(page.orders[0].attribution(), Some("dddd"), "{empty}");
        }
        // Something that is there but not an object may be ours: not guessed at.
        let mut o = seed_order();
        o["pid_info"] = json!(["dy_1_2_3", "dlb2_rth"]);
        let page = parse_orders(json!({"data": {"orders": [o]}})).unwrap();
        assert_eq!(page.unreadable.len(), 1);
    }

    #[test]
    fn amounts_shown_to_users_are_whole_fen_or_unreadable() {
        for (value, fen) in [
            (json!(2100), Some(2100)),
            (json!("2100"), Some(2100)),
            (json!(2100.0), Some(2100)),
            (json!(null), Some(0)),
            // Reads like yuan: taken as fen it would be told 100 times too small.
            (json!("21.00"), None),
            (json!("2100.0"), None),
            (json!(21.5), None),
            (json!("¥21"), None),
        ] {
            let mut o = seed_order();
            o["total_pay_amount"] = value.clone();
            let page = parse_orders(json!({"data": {"orders": [o]}})).unwrap();
            match fen {
                Some(f) => assert_eq!(page.orders[0].total_pay_amount, f, "{value}"),
                None => assert_eq!(page.unreadable.len(), 1, "{value}"),
            }
        }
    }

    #[test]
    fn list_and_cursor_are_found_in_each_tolerated_shape() {
        for reply in [
            json!({"data": {"list": [seed_order()], "cursor": "c1"}}),
            json!({"data": [seed_order()], "cursor": "c1"}),
            json!({"orders": [seed_order()], "cursor": "c1"}),
        ] {
            let page = parse_orders(reply.clone()).unwrap();
            assert_eq!(page.orders.len(), 1, "{reply}");
            assert_eq!(page.cursor.as_deref(), Some("c1"), "{reply}");
        }
    }

    #[test]
    fn last_page_markers_end_paging() {
        for cursor in [json!(""), json!("0"), json!(0), json!(null)] {
            let page = parse_orders(json!({"data": {"orders": [], "cursor": cursor}})).unwrap();
            assert_eq!(page.cursor, None);
        }
        assert!(parse_orders(json!({"error": "0", "data": {}}))
            .unwrap()
            .orders
            .is_empty());
    }

    #[test]
    fn a_reply_with_data_but_no_list_is_an_error_not_an_empty_page() {
        assert!(parse_orders(json!({"data": {"records": [seed_order()]}})).is_err());
    }

    #[test]
    fn fractional_money_is_refused() {
        let mut o = seed_order();
        o["total_pay_amount"] = json!(21.5);
        let page = parse_orders(json!({"data": {"orders": [o]}})).unwrap();
        assert!(page.orders.is_empty());
        assert_eq!(page.unreadable.len(), 1);
    }
}
