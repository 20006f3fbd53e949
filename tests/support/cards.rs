//! veapi doubles for product details, answering as veapi does:
//! - kol_ProductShare carries the product under `data.detail` only when asked with `detail`
//!   (veapi's page: "detail … 默认0或不填 … 推荐3"), in the string-valued shape of
//!   `fixtures/veapi/share_detail3.json`;
//! - `kol_MaterialsProductsDetails` answers `data.products` for the ids of `product_ids` it
//!   knows, in any order, and leaves out the others ("如商品推广在抖店后台下架,接口会返回为空"),
//!   refusing more than 20 ids the way Douyin does (`商品数过多`, isv.business-failed:4099, from
//!   a public SDK's table of buyin.productsDetail refusals).
#![allow(dead_code)]

use super::form;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const SHARE_PATH: &str = "/douke/kol_ProductShare";
pub const DETAILS_PATH: &str = "/douke/kol_MaterialsProductsDetails";

/// One product upstream knows, as `detail` / `products[]` carry it.
pub fn product_json(id: &str, title: &str, price: i64, cover: &str) -> Value {
    json!({
        "product_id": id, "title": title, "price": price.to_string(),
        "coupon_price": "", "cos_ratio": "10.00", "cos_fee": (price / 10).to_string(),
        "kol_cos_ratio": "", "kol_cos_fee": "",
        "cover": cover, "shop_name": "卡宾熊旗舰店", "sharable": "true"
    })
}

/// The kol_ProductShare success for product `id`: a password naming it and its share link.
pub fn share_data(id: &str) -> Value {
    json!({
        "coupon_link": {"coupon_status": 1, "deeplink": null, "share_command": null, "share_link": null},
        "dy_deeplink": "snssdk1128://ec_goods_detail/?promotion_id=3471556980941674",
        "dy_password": format!("长按复制此条消息，打开抖音搜索，查看商品详情{id}ΦΦ"),
        "dy_zlink": "https://z.douyin.com/ijA7m2U",
        "share_link": format!("https://haohuo.jinritemai.com/ecommerce/trade/detail/index.html?id={id}&origin_type=product_distribution")
    })
}

/// A veapi with a catalogue: kol_ProductShare converts a product id (the `productUrl` as
/// sent) and carries its details when asked for them and `share_details` is on;
/// kol_MaterialsProductsDetails answers from the same catalogue. Counts both.
#[derive(Clone)]
pub struct Catalogue {
    pub products: Arc<Mutex<HashMap<String, Value>>>,
    /// Whether kol_ProductShare answers `detail` (off: a reply without it, so the bot must
    /// fall back to the batched lookup).
    pub share_details: bool,
    pub latency: Duration,
    pub share_calls: Arc<AtomicUsize>,
    pub details_calls: Arc<AtomicUsize>,
    /// When each call (either endpoint) arrived.
    pub arrivals: Arc<Mutex<Vec<Instant>>>,
    pub share_arrivals: Arc<Mutex<Vec<Instant>>>,
    pub details_arrivals: Arc<Mutex<Vec<Instant>>>,
}

impl Catalogue {
    pub fn new(products: Vec<Value>, share_details: bool) -> Catalogue {
        Catalogue {
            products: Arc::new(Mutex::new(
                products
                    .into_iter()
                    .map(|p| (p["product_id"].as_str().unwrap().to_string(), p))
                    .collect(),
            )),
            share_details,
            latency: Duration::ZERO,
            share_calls: Arc::default(),
            details_calls: Arc::default(),
            arrivals: Arc::default(),
            share_arrivals: Arc::default(),
            details_arrivals: Arc::default(),
        }
    }

    pub fn with_latency(mut self, latency: Duration) -> Catalogue {
        self.latency = latency;
        self
    }

    pub async fn mount(&self, server: &MockServer) {
        Mock::given(method("POST"))
            .and(path(SHARE_PATH))
            .respond_with(ShareResponder(self.clone()))
            .mount(server)
            .await;
        Mock::given(method("POST"))
            .and(path(DETAILS_PATH))
            .respond_with(DetailsResponder(self.clone()))
            .mount(server)
            .await;
    }

    pub fn share_calls(&self) -> usize {
        self.share_calls.load(Ordering::SeqCst)
    }

    pub fn details_calls(&self) -> usize {
        self.details_calls.load(Ordering::SeqCst)
    }

    /// When the first share call and the first details call arrived.
    pub fn first_arrivals(&self) -> (Option<Instant>, Option<Instant>) {
        let first = |v: &Mutex<Vec<Instant>>| v.lock().unwrap().first().copied();
        (first(&self.share_arrivals), first(&self.details_arrivals))
    }
}

struct ShareResponder(Catalogue);

impl Respond for ShareResponder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.0.share_calls.fetch_add(1, Ordering::SeqCst);
        self.0.arrivals.lock().unwrap().push(Instant::now());
        self.0.share_arrivals.lock().unwrap().push(Instant::now());
        let f = form(req);
        let id = f.get("productUrl").cloned().unwrap_or_default();
        let mut data = share_data(&id);
        let asked = f.get("detail").is_some_and(|d| d != "0");
        if asked && self.0.share_details {
            if let Some(p) = self.0.products.lock().unwrap().get(&id) {
                data["detail"] = p.clone();
            }
        }
        ResponseTemplate::new(200)
            .set_body_json(
                json!({"error": "0", "msg": "查询成功!", "data": data, "request_id": "s1"}),
            )
            .set_delay(self.0.latency)
    }
}

struct DetailsResponder(Catalogue);

impl Respond for DetailsResponder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.0.details_calls.fetch_add(1, Ordering::SeqCst);
        self.0.arrivals.lock().unwrap().push(Instant::now());
        self.0.details_arrivals.lock().unwrap().push(Instant::now());
        let f = form(req);
        let ids: Vec<String> = f
            .get("product_ids")
            .map(|s| s.split(',').map(|i| i.trim().to_string()).collect())
            .unwrap_or_default();
        if ids.len() > 20 {
            return ResponseTemplate::new(200)
                .set_body_json(
                    json!({"error": "4099", "msg": "商品数过多", "data": {}, "request_id": "d0"}),
                )
                .set_delay(self.0.latency);
        }
        let known = self.0.products.lock().unwrap();
        // Upstream's order is its own: answered last id first.
        let products: Vec<Value> = ids
            .iter()
            .rev()
            .filter_map(|i| known.get(i).cloned())
            .collect();
        ResponseTemplate::new(200)
            .set_body_json(json!({"error": "0", "msg": "查询成功!",
                "data": {"total": products.len(), "products": products}, "request_id": "d1"}))
            .set_delay(self.0.latency)
    }
}

/// The `product_ids` of every details call veapi received, split.
pub async fn details_requests(server: &MockServer) -> Vec<Vec<String>> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == DETAILS_PATH)
        .map(|r| {
            form(r)
                .get("product_ids")
                .map(|s| s.split(',').map(str::to_string).collect())
                .unwrap_or_default()
        })
        .collect()
}
