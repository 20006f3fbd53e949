//! A fake veapi for each provider (`VEAPI_PROVIDER`): it serves the provider's two endpoints
//! with their documented parameters, records and refuses any parameter the documentation
//! does not list, pages orders by the `size` asked for and filters them by the window, the
//! way the real endpoints are documented to:
//! - `douke/kol_ProductShare` and `douyin/alliance_kol_orders`: the seeds in
//!   `shared/seeds/` (parameter tables quoted in `shared/veapi.md`).
//! - `douke/douke_OrderAds`: veapi.cn/apidoc/douyindouke/330: `size` 1–200, `cursor` `"0"`
//!   first, `start_time`/`end_time`, `order_ids` (≤ 10), `pid`, `distribution_type`,
//!   `time_type`, `query_order_type`, `sessionkey` for multi-account cards;
//!   `pid_info.external_info`.
//! - `douke/csj_productlink`: `vekey`, `product_url` (a product id or URL, "与商品接口
//!   detail_url一致"), `product_ext`, `external_info` (≤ 33 of `[A-Za-z0-9_]`), `share_type`
//!   (1–5, a comma list), `platform`, `use_coupon`, `detail` (issue 11 quoting veapi's page).
//!   Its reply fields are undocumented: the fake answers with the kol reply's names.
//! - `douke/csj_ordersearch`: veapi.cn/apidoc/douyindouke/378: `size` ≤ 50, `cursor` absent
//!   or `"0"` first and `""` at the end, `start_time`/`end_time`, `order_type`, `time_type`;
//!   or `order_ids` (≤ 10) alone. Orders shaped as two public samples of the same upstream
//!   search show them (doc.huajuanyun.com `dhcc.douyin.order.search`, wiki.yunzmall.com
//!   `tiktok-cps`): `external_info` at the top level, a refund as `after_sales_status` 2
//!   with `flow_point` `REFUND`, the settled commission as `ads_real_commission`.
//! - Every order endpoint answers `order_ids` alone with those orders, whatever the window.
//! - `douke/kol_MaterialsProductsDetails` (kol and douke only: it needs the 达人/抖客
//!   authorization): veapi.cn/apidoc/douyindouke/321: `vekey`, `product_ids` (≤ 20),
//!   `with_share_status`, `with_brand_info`; answered with no products ("如商品推广在抖店后台
//!   下架,接口会返回为空"), so cards fall back to the password alone here.
#![allow(dead_code)]

use super::form;
use douyin_link_bot::veapi::Provider;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// An order as the fake holds it, whatever provider serves it.
#[derive(Debug, Clone)]
pub struct FakeOrder {
    pub order_id: String,
    pub external_info: String,
    /// `PAY_SUCC`, `CONFIRM`, `SETTLE` or `REFUND`.
    pub state: &'static str,
    /// China time, `YYYY-MM-DD HH:MM:SS`.
    pub update_time: String,
}

#[derive(Default)]
struct State {
    orders: Vec<FakeOrder>,
    /// Serves at most this many orders a page, whatever `size` asked for.
    page_cap: Option<usize>,
    /// Answers conversions with a success that holds no 抖口令 under any known name.
    no_password: bool,
    violations: Vec<String>,
    share_calls: Vec<HashMap<String, String>>,
    order_calls: Vec<HashMap<String, String>>,
}

/// The fake veapi of one provider.
#[derive(Clone)]
pub struct ProviderFake {
    pub provider: Provider,
    pub server: Arc<MockServer>,
    state: Arc<Mutex<State>>,
}

/// The parameters each endpoint's documentation lists (see the module's sources).
pub fn documented(path: &str) -> &'static [&'static str] {
    match path {
        "/douke/kol_ProductShare" => &[
            "vekey",
            "productUrl",
            "pid",
            "external_info",
            "need_qr_code",
            "need_zlink",
            "platform",
            "use_coupon",
            "need_share_link",
            "ins_activity_param",
            "need_dkl_str",
            "detail",
            "access_token",
            "account_id",
        ],
        "/douyin/alliance_kol_orders" => &[
            "vekey",
            "size",
            "cursor",
            "start_time",
            "end_time",
            "order_ids",
            "time_type",
            "sessionkey",
            "open_id",
        ],
        "/douke/douke_OrderAds" => &[
            "vekey",
            "size",
            "cursor",
            "start_time",
            "end_time",
            "order_ids",
            "pid",
            "distribution_type",
            "time_type",
            "query_order_type",
            "sessionkey",
        ],
        "/douke/csj_productlink" => &[
            "vekey",
            "product_url",
            "product_ext",
            "external_info",
            "share_type",
            "platform",
            "use_coupon",
            "detail",
        ],
        "/douke/kol_MaterialsProductsDetails" => &[
            "vekey",
            "product_ids",
            "with_share_status",
            "with_brand_info",
        ],
        "/douke/csj_ordersearch" => &[
            "vekey",
            "size",
            "cursor",
            "start_time",
            "end_time",
            "order_ids",
            "time_type",
            "order_type",
        ],
        _ => &[],
    }
}

fn refuse(msg: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "error": "1", "msg": msg, "data": {}, "request_id": "fake"
    }))
}

impl ProviderFake {
    pub async fn start(provider: Provider) -> ProviderFake {
        let fake = ProviderFake {
            provider,
            server: Arc::new(MockServer::start().await),
            state: Arc::new(Mutex::new(State::default())),
        };
        Mock::given(method("POST"))
            .respond_with(Responder(fake.clone()))
            .mount(&fake.server)
            .await;
        fake
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Replaces the orders upstream holds.
    pub fn set_orders(&self, orders: Vec<FakeOrder>) {
        self.state.lock().unwrap().orders = orders;
    }

    /// Conversions succeed from now on without a 抖口令 under any name the bot knows (the
    /// undocumented csj_productlink reply changing shape).
    pub fn answer_without_password(&self) {
        self.state.lock().unwrap().no_password = true;
    }

    /// Pages hold at most `n` orders from now on, however many were asked for (an
    /// endpoint whose pages are fuller or emptier than documented).
    pub fn cap_pages(&self, n: usize) {
        self.state.lock().unwrap().page_cap = Some(n);
    }

    /// Calls that used a parameter the provider's documentation does not list, or broke a
    /// documented rule.
    pub fn violations(&self) -> Vec<String> {
        self.state.lock().unwrap().violations.clone()
    }

    pub fn share_calls(&self) -> Vec<HashMap<String, String>> {
        self.state.lock().unwrap().share_calls.clone()
    }

    pub fn order_calls(&self) -> Vec<HashMap<String, String>> {
        self.state.lock().unwrap().order_calls.clone()
    }

    fn violation(&self, what: String) -> ResponseTemplate {
        self.state.lock().unwrap().violations.push(what.clone());
        refuse(format!("fake veapi: {what}"))
    }

    fn answer(&self, req: &Request) -> ResponseTemplate {
        let path = req.url.path().to_string();
        let params = form(req);
        let allowed = documented(&path);
        let expected_share = format!("/{}", self.provider.share_endpoint());
        let expected_orders = format!("/{}", self.provider.orders_endpoint());
        let details = self.provider != Provider::Csj
            && path == format!("/{}", douyin_link_bot::veapi::DETAILS_ENDPOINT);
        if path != expected_share && path != expected_orders && !details {
            return self.violation(format!("{path} is not this provider's endpoint"));
        }
        if let Some(bad) = params.keys().find(|k| !allowed.contains(&k.as_str())) {
            return self.violation(format!("undocumented parameter {bad} for {path}"));
        }
        if params.get("vekey").map(String::as_str) != Some(super::VEKEY) {
            return refuse("vekey不存在或已到期".into());
        }
        if details {
            let n = params
                .get("product_ids")
                .map_or(0, |ids| ids.split(',').count());
            if n == 0 || n > 20 {
                return self.violation(format!("{n} product_ids for {path} (1 to 20)"));
            }
            return ResponseTemplate::new(200).set_body_json(json!({
                "error": "0", "msg": "查询成功!", "data": {"total": 0, "products": []}, "request_id": "fake"
            }));
        }
        if path == expected_share {
            self.share(&path, params)
        } else {
            self.orders(&path, params)
        }
    }

    fn share(&self, path: &str, params: HashMap<String, String>) -> ResponseTemplate {
        self.state.lock().unwrap().share_calls.push(params.clone());
        let ext = params.get("external_info").cloned().unwrap_or_default();
        let (product, max_ext) = if self.provider == Provider::Csj {
            (params.get("product_url").cloned().unwrap_or_default(), 33)
        } else {
            (params.get("productUrl").cloned().unwrap_or_default(), 40)
        };
        if ext.len() > max_ext || !ext.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return self.violation(format!("external_info {ext:?} breaks {path}'s rule"));
        }
        if self.provider == Provider::Csj {
            let is_id = !product.is_empty() && product.bytes().all(|b| b.is_ascii_digit());
            let is_product_url = product.starts_with("http")
                && !product.contains("v.douyin.com")
                && product.contains("id=");
            if !is_id && !is_product_url {
                return self.violation(format!(
                    "csj_productlink got {product:?}, not a product id or URL"
                ));
            }
            let types = params.get("share_type").cloned().unwrap_or_default();
            if !types.split(',').any(|t| t == "3") || types.split(',').any(|t| t == "2") {
                return self.violation(format!("share_type {types:?}: want 3, never 2"));
            }
        }
        if self.state.lock().unwrap().no_password {
            return ResponseTemplate::new(200).set_body_json(json!({
                "error": "0", "msg": "转链成功!",
                "data": {"qr_code": {"url": "https://p3.douyinpic.com/qr.png"}, "product_id": "3583117383482622604"},
                "request_id": "fake"
            }));
        }
        let password = format!(
            "8.21 {}:/ 复制打开抖音，看看【{}】 ¥{}¥",
            self.provider, product, ext
        );
        ResponseTemplate::new(200).set_body_json(json!({
            "error": "0", "msg": "转链成功!",
            "data": {
                "dy_password": password,
                "share_link": "https://haohuo.jinritemai.com/ecommerce/trade/detail/index.html?id=3583117383482622604&origin_type=product_distribution",
                "dy_deeplink": "snssdk1128://ec_goods_detail/?promotion_id=3471556980941674",
                "dy_zlink": "https://z.douyin.com/fake",
                "coupon_link": {"coupon_status": 0, "share_command": null, "share_link": null, "deeplink": null}
            },
            "request_id": "fake"
        }))
    }

    fn orders(&self, path: &str, params: HashMap<String, String>) -> ResponseTemplate {
        if let Some(ids) = params.get("order_ids") {
            let ids: Vec<&str> = ids.split(',').collect();
            if ids.len() > 10 {
                return self.violation(format!("{path}: more than 10 order_ids"));
            }
            let mut state = self.state.lock().unwrap();
            state.order_calls.push(params.clone());
            let found: Vec<FakeOrder> = state
                .orders
                .iter()
                .filter(|o| ids.contains(&o.order_id.as_str()))
                .cloned()
                .collect();
            drop(state);
            let page: Vec<Value> = found.iter().map(|o| self.order_json(o)).collect();
            return ResponseTemplate::new(200).set_body_json(json!({
                "error": "0", "msg": "查询成功!",
                "data": {"orders": page, "cursor": ""}, "request_id": "fake"
            }));
        }
        let max_size = match self.provider {
            Provider::Kol => 20,
            Provider::Douke => 200,
            Provider::Csj => 50,
        };
        let size: usize = match params.get("size").map(|s| s.parse()) {
            Some(Ok(n)) if (1..=max_size).contains(&n) => n,
            other => {
                return self.violation(format!("{path}: size {other:?} outside 1..={max_size}"))
            }
        };
        let cursor = params.get("cursor").cloned();
        let first = match (self.provider, cursor.as_deref()) {
            (Provider::Kol, None) => true,
            (Provider::Kol, Some("0" | "")) => {
                return self.violation(format!("{path}: the first page sends no cursor"))
            }
            (Provider::Douke, None) => {
                return self.violation(format!("{path}: the first page sends cursor \"0\""))
            }
            (_, None | Some("0")) => true,
            _ => false,
        };
        let offset: usize = if first {
            0
        } else {
            match cursor.as_deref().unwrap_or_default().strip_prefix("c") {
                Some(n) => n.parse().unwrap_or(usize::MAX),
                None => return self.violation(format!("{path}: unknown cursor {cursor:?}")),
            }
        };
        let (start, end) = match (params.get("start_time"), params.get("end_time")) {
            (Some(s), Some(e)) => (s.clone(), e.clone()),
            _ => return self.violation(format!("{path}: no time window")),
        };
        // Every page: start ≤ end, at most 90 days apart (apidoc 378 "间隔不超过90天"; 330
        // and the kol seed: "最早支持90天前").
        let parse = |t: &str| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").ok();
        match (parse(&start), parse(&end)) {
            (Some(s), Some(e)) if s <= e && e - s <= chrono::Duration::days(90) => {}
            _ => return self.violation(format!("{path}: window {start} – {end}")),
        }
        if params.get("time_type").map(String::as_str) != Some("update") {
            return self.violation(format!("{path}: time_type is not update"));
        }
        let mut state = self.state.lock().unwrap();
        state.order_calls.push(params.clone());
        let size = size.min(state.page_cap.unwrap_or(usize::MAX));
        let matching: Vec<FakeOrder> = state
            .orders
            .iter()
            .filter(|o| o.update_time >= start && o.update_time <= end)
            .cloned()
            .collect();
        drop(state);
        let page: Vec<Value> = matching
            .iter()
            .skip(offset)
            .take(size)
            .map(|o| self.order_json(o))
            .collect();
        let next = offset + page.len();
        let cursor = if next < matching.len() {
            format!("c{next}")
        } else {
            String::new()
        };
        ResponseTemplate::new(200).set_body_json(json!({
            "error": "0", "msg": "查询成功!",
            "data": {"orders": page, "cursor": cursor},
            "request_id": "fake"
        }))
    }

    fn order_json(&self, o: &FakeOrder) -> Value {
        let settled = o.state == "SETTLE";
        let mut v = json!({
            "order_id": o.order_id, "product_id": "3583117383482622604",
            "product_name": "卡宾熊猫耳酥 130g*10袋", "total_pay_amount": 2100,
            "flow_point": o.state, "update_time": o.update_time,
            "pay_success_time": "2026-11-22 10:00:00",
            "settle_time": if settled { o.update_time.as_str() } else { "" },
            "estimated_commission": 420, "shop_name": "卡宾熊旗舰店"
        });
        let obj = v.as_object_mut().unwrap();
        match self.provider {
            Provider::Kol | Provider::Douke => {
                obj.insert(
                    "real_commission".into(),
                    json!(if settled { 415 } else { 0 }),
                );
                obj.insert(
                    "pid_info".into(),
                    json!({"pid": "dy_1_2_3", "external_info": o.external_info, "media_type_name": "站外"}),
                );
            }
            Provider::Csj => {
                // As the public samples show a csj order (see the module's sources).
                obj.insert("external_info".into(), json!(o.external_info));
                obj.insert(
                    "ads_real_commission".into(),
                    json!(if settled { 415 } else { 0 }),
                );
                obj.insert(
                    "after_sales_status".into(),
                    json!(if o.state == "REFUND" { 2 } else { 0 }),
                );
                obj.insert("split_rate".into(), json!(2000));
                obj.insert("media_type_name".into(), json!("ProductDetail"));
                obj.insert("confirm_time".into(), json!(""));
                obj.insert(
                    "colonel_order_info".into(),
                    json!({"activity_id": 0, "institution_id": 0, "institution_name": ""}),
                );
            }
        }
        v
    }
}

/// Matches a call that uses only the parameters its endpoint's documentation lists.
pub struct Documented;

impl wiremock::Match for Documented {
    fn matches(&self, req: &Request) -> bool {
        let allowed = documented(req.url.path());
        form(req).keys().all(|k| allowed.contains(&k.as_str()))
    }
}

struct Responder(ProviderFake);

impl Respond for Responder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.0.answer(req)
    }
}

/// A fake `v.douyin.com`: `GET /{code}/` answers `302` with the target in `Location`, as
/// the real host does for a share link (the resolver reads it without following it).
pub async fn short_link_host(targets: &[(&str, &str)]) -> MockServer {
    let server = MockServer::start().await;
    for (code, location) in targets {
        Mock::given(method("GET"))
            .and(wiremock::matchers::path(format!("/{code}/")))
            .respond_with(ResponseTemplate::new(302).insert_header("Location", *location))
            .mount(&server)
            .await;
    }
    server
}
