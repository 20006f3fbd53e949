//! The dashboard served on loopback as the bot serves it (`dashboard::router` on the HTTP
//! server's `serve`), over a test store, with a browser's part played by hand: cookies kept
//! from `Set-Cookie`, redirects not followed (tests look at them), forms posted.

use douyin_link_bot::dashboard::{self, auth, DashboardState};
use douyin_link_bot::store::Store;
use douyin_link_bot::veapi::{Order, ShareLink};
use reqwest::{header, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;

/// Operators in these tests.
pub const ADMIN: u64 = 1001;
pub const OTHER_ADMIN: u64 = 3003;

pub struct Dash {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub store: Store,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Dash {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// What a response said: status, headers, body.
pub struct Answer {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// A signed-in browser: its cookie's value and the page's CSRF token.
pub struct Browser {
    pub cookie: String,
    pub csrf: String,
}

impl Dash {
    /// The dashboard on `store` for `admins`, reached at `public_url`.
    pub async fn start(store: Store, admins: &[u64], public_url: &str) -> Dash {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = dashboard::router(DashboardState {
            store: store.clone(),
            admins: Arc::new(admins.to_vec()),
            public_url: public_url.parse().unwrap(),
            provider: Default::default(),
            wake: None,
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        douyin_link_bot::http::server::serve(listener, app, async move {
            let _ = rx.await;
        });
        Dash {
            addr,
            http: client(),
            store,
            stop: Some(tx),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Answer {
        let mut req = self.http.get(self.url(path));
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, format!("{}={c}", auth::COOKIE));
        }
        answer(req.send().await.unwrap()).await
    }

    /// A form POST, as a browser sends it.
    pub async fn post(&self, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Answer {
        let mut req = self.http.post(self.url(path)).form(form);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, format!("{}={c}", auth::COOKIE));
        }
        answer(req.send().await.unwrap()).await
    }

    /// A login link for `user` issued `age` seconds ago.
    pub async fn token(&self, user: u64, age: i64) -> String {
        auth::issue(&self.store, user, now() - age).await.unwrap()
    }

    /// Signs `user` in through a fresh link; the page's CSRF token read from the page.
    pub async fn sign_in(&self, user: u64) -> Browser {
        let token = self.token(user, 0).await;
        let a = self.get(&format!("/dashboard/login?t={token}"), None).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let cookie = cookie_value(a.header("set-cookie")).expect("a session cookie");
        let page = self.get("/dashboard", Some(&cookie)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let csrf = between(&page.body, "name=\"csrf\" value=\"", "\"")
            .expect("a CSRF field on the page")
            .to_string();
        Browser { cookie, csrf }
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn answer(r: reqwest::Response) -> Answer {
    Answer {
        status: r.status(),
        headers: r.headers().clone(),
        body: r.text().await.unwrap(),
    }
}

/// The session cookie's value in a `Set-Cookie` header.
pub fn cookie_value(set_cookie: &str) -> Option<String> {
    let first = set_cookie.split(';').next()?;
    let (name, value) = first.split_once('=')?;
    (name == auth::COOKIE && !value.is_empty()).then(|| value.to_string())
}

/// The text between the first `start` and the next `end`.
pub fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = s.find(start)? + start.len();
    let len = s[from..].find(end)?;
    Some(&s[from..from + len])
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An order of product `product_id` paid at `paid` (unix), in state `flow_point`, paid
/// `user_pay` fen, its estimated commission a fifth of that.
pub fn order(
    id: &str,
    product_id: &str,
    title: &str,
    user_pay: i64,
    flow_point: &str,
    paid: i64,
) -> Order {
    let at = douyin_link_bot::poller::china_time(paid);
    serde_json::from_value(serde_json::json!({
        "order_id": id, "product_id": product_id, "product_name": title,
        "flow_point": flow_point, "total_pay_amount": user_pay,
        "estimated_commission": user_pay / 5,
        "real_commission": if flow_point == "SETTLE" { user_pay / 5 - 1 } else { 0 },
        "update_time": at, "pay_success_time": at,
        "settle_time": if flow_point == "SETTLE" { at.as_str() } else { "" },
        "pid_info": {"external_info": "dlb_x"}
    }))
    .unwrap()
}

/// Stores `orders` as a poll would, each for `user`, with a 50 % rebate.
pub async fn ingest(store: &Store, user: u64, orders: &[Order]) {
    let items: Vec<_> = orders
        .iter()
        .map(|o| douyin_link_bot::store::IngestOrder {
            order: o,
            user_id: Some(user),
            notices: douyin_link_bot::poller::notices(o),
        })
        .collect();
    store.ingest_page_at(&items, now(), 50).await.unwrap();
}

/// A conversion of product `product_id` by `user` in `chat`.
pub async fn convert(store: &Store, user: u64, name: &str, chat: i64, product_id: &str) {
    let link = ShareLink {
        dy_password: "口令".into(),
        share_link: Some(format!(
            "https://haohuo.jinritemai.com/ecommerce/trade/detail/index.html?id={product_id}"
        )),
        dy_deeplink: None,
        dy_zlink: None,
        coupon: None,
    };
    store
        .record_conversion(&douyin_link_bot::store::NewConversion {
            user_id: user,
            user_name: Some(name),
            chat_id: chat,
            product_key: product_id,
            external_info: "dlb_x",
            link: &link,
            created_at: now() - 120,
        })
        .await
        .unwrap();
}

/// A message for `user` parked with `reason`; its outbox id.
pub async fn parked(store: &Store, user: u64, key: &str, reason: &str) -> i64 {
    let notice = douyin_link_bot::store::Notice::text(key, "hello");
    store.enqueue_private(&notice, user, now()).await.unwrap();
    let row = store
        .pending_for(user)
        .await
        .unwrap()
        .into_iter()
        .last()
        .expect("the message just enqueued");
    store.park(row.id, reason).await.unwrap();
    row.id
}
