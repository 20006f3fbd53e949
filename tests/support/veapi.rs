//! veapi doubles that answer the way alliance_kol_orders pages really do: full pages of
//! `size` orders until the last one, whose cursor is empty (the seed: "cursor … 下一页索引,
//! 最后一页返回空"; `size` "每页订单数目,取值区间: [1, 20]"), selected by the window asked
//! for; a cursor that never ends; and a TLS front for an `https://` base URL.
#![allow(dead_code)]

use super::{form, order_json};
use rcgen::CertifiedKey;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

/// What alliance_kol_orders answers at most per page (`size` ≤ 20).
pub const SIZE: usize = 20;

/// `ours` followed by other channels' orders up to a full page of `SIZE`: a page that is not
/// the last one is full upstream.
pub fn full_page(ours: Vec<Value>, filler_prefix: &str) -> Vec<Value> {
    let n = ours.len();
    let mut page = ours;
    page.extend((n..SIZE).map(|i| {
        order_json(
            &format!("{filler_prefix}{i:02}"),
            "other_channel",
            "PAY_SUCC",
            "2026-11-22 10:00:00",
        )
    }));
    page
}

/// veapi's success envelope around a page.
pub fn page_body(orders: Vec<Value>, cursor: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "error": "0", "msg": "查询成功!", "data": {"orders": orders, "cursor": cursor}, "request_id": "w1"
    }))
}

/// Serves a fixed set of orders the way upstream does: those whose `update_time` lies in the
/// asked window (`time_type=update`), `size` a page, the cursor the offset of the next page,
/// `""` on the last.
pub struct WindowedOrders(pub Vec<Value>);

impl Respond for WindowedOrders {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let f = form(req);
        let (start, end) = (&f["start_time"], &f["end_time"]);
        let size: usize = f.get("size").and_then(|s| s.parse().ok()).unwrap_or(15);
        let from: usize = f.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
        let inside: Vec<Value> = self
            .0
            .iter()
            .filter(|o| {
                let t = o["update_time"].as_str().unwrap_or_default();
                t >= start.as_str() && t <= end.as_str()
            })
            .cloned()
            .collect();
        let page: Vec<Value> = inside.iter().skip(from).take(size).cloned().collect();
        let next = if from + size < inside.len() {
            (from + size).to_string()
        } else {
            String::new()
        };
        page_body(page, &next)
    }
}

/// A broken cursor: every call answers a full page of other channels' orders never seen
/// before and a cursor never seen before. Counts the calls it received.
#[derive(Clone, Default)]
pub struct EndlessCursor(pub Arc<AtomicUsize>);

impl EndlessCursor {
    pub fn calls(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Respond for EndlessCursor {
    fn respond(&self, _req: &Request) -> ResponseTemplate {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        page_body(full_page(vec![], &format!("48{n:010}")), &format!("{n}"))
    }
}

/// A cursor going in a circle: every call answers the same full page under a new cursor.
#[derive(Clone, Default)]
pub struct SamePageNewCursor(pub Arc<AtomicUsize>);

impl SamePageNewCursor {
    pub fn calls(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Respond for SamePageNewCursor {
    fn respond(&self, _req: &Request) -> ResponseTemplate {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        page_body(full_page(vec![], "48000000000000"), &format!("{n}"))
    }
}

/// A TLS front on loopback for a wiremock server: TLS terminated with a self-signed
/// certificate for `localhost` made for this test, bytes passed on to the fake as they are.
pub struct TlsFront {
    /// `https://localhost:PORT`
    pub url: String,
    /// The certificate to trust (PEM).
    pub ca_pem: String,
}

impl TlsFront {
    pub async fn start(upstream: &MockServer) -> TlsFront {
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let CertifiedKey { cert, key_pair } =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let der_key =
            tokio_rustls::rustls::pki_types::PrivateKeyDer::try_from(key_pair.serialize_der())
                .unwrap();
        let config = tokio_rustls::rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], der_key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let target: SocketAddr = *upstream.address();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A handshake the client refuses ends here; that is a test's business.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    if let Ok(mut plain) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                    }
                });
            }
        });
        TlsFront {
            url: format!("https://localhost:{port}"),
            ca_pem: cert.pem(),
        }
    }
}

/// The order poller on a fresh store (`db`) against a fresh fake veapi, with operator alerts going
/// to `admins` through the outbox.
pub struct PollerSetup {
    pub veapi: MockServer,
    pub store: douyin_link_bot::store::Store,
    pub poller: douyin_link_bot::poller::Poller,
    pub db: super::TestDb,
}

pub fn veapi_config(base_url: &str) -> douyin_link_bot::config::VeapiConfig {
    let vars = std::collections::HashMap::from([
        ("VEAPI_KEY", super::VEKEY.to_string()),
        ("VEAPI_BASE_URL", base_url.to_string()),
    ]);
    douyin_link_bot::config::Config::from_lookup(
        |k| vars.get(k).cloned(),
        douyin_link_bot::config::Needs {
            telegram: false,
            veapi: true,
        },
    )
    .expect("test config")
    .veapi
    .expect("veapi config")
}

impl PollerSetup {
    pub async fn start(
        db: super::TestDb,
        settings: douyin_link_bot::poller::PollerSettings,
        admins: &[u64],
    ) -> PollerSetup {
        use douyin_link_bot::veapi::{OrderSource, VeapiClient};
        let veapi = MockServer::start().await;
        let store = douyin_link_bot::store::Store::open(db.url()).await.unwrap();
        let source: Arc<dyn OrderSource> =
            Arc::new(VeapiClient::new(&veapi_config(&veapi.uri())).unwrap());
        let wake = Arc::new(tokio::sync::Notify::new());
        let alerts =
            douyin_link_bot::alerts::Alerts::new(store.clone(), admins.to_vec(), wake.clone())
                .await
                .unwrap();
        let poller = douyin_link_bot::poller::Poller::new(
            source,
            store.clone(),
            settings,
            Some(alerts),
            wake,
        );
        PollerSetup {
            veapi,
            store,
            poller,
            db,
        }
    }

    /// The messages waiting in the outbox for `user_id`, oldest first, as a user without a
    /// language choice would read them (Chinese).
    pub async fn outbox_for(&self, user_id: u64) -> Vec<String> {
        self.store
            .pending_for(user_id)
            .await
            .unwrap()
            .into_iter()
            .map(|r| {
                let event = r.event.expect("a readable event");
                douyin_link_bot::telegram::texts::event(
                    douyin_link_bot::lang::Lang::Zh,
                    &event,
                    &Default::default(),
                )
            })
            .collect()
    }
}

/// Fast poller settings for tests: no waits between retries, no retries unless asked.
pub fn fast_settings() -> douyin_link_bot::poller::PollerSettings {
    douyin_link_bot::poller::PollerSettings {
        page_retries: 0,
        retry_delay: std::time::Duration::from_millis(10),
        ..douyin_link_bot::poller::PollerSettings::new(std::time::Duration::from_millis(100))
    }
}

/// veapi's orders endpoint serving pre-built pages of 20 orders, following the cursor (the
/// page number), counting the calls it answered.
pub struct OrderPages {
    pub bodies: Vec<Vec<u8>>,
    pub calls: Arc<AtomicUsize>,
}

impl OrderPages {
    /// `pages` pages of 20 orders updated at `now`; order `n` (0-based, ids from
    /// 4737996432400000000) gets the `external_info` and flow point `order(n)` says. The last
    /// page's cursor is empty, as veapi ends a listing.
    pub fn new(pages: usize, now: &str, order: impl Fn(u64) -> (String, &'static str)) -> Self {
        let bodies = (0..pages)
            .map(|p| {
                let list: Vec<Value> = (0..20)
                    .map(|i| {
                        let n = (p * 20 + i) as u64;
                        let (info, state) = order(n);
                        order_json(
                            &(4_737_996_432_400_000_000 + n).to_string(),
                            &info,
                            state,
                            now,
                        )
                    })
                    .collect();
                let cursor = if p + 1 < pages {
                    (p + 1).to_string()
                } else {
                    String::new()
                };
                serde_json::to_vec(
                    &json!({"error": "0", "msg": "ok", "data": {"orders": list, "cursor": cursor}}),
                )
                .unwrap()
            })
            .collect();
        OrderPages {
            bodies,
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl Respond for OrderPages {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let page = form(req)
            .get("cursor")
            .and_then(|c| c.parse::<usize>().ok())
            .unwrap_or(0);
        ResponseTemplate::new(200).set_body_raw(
            self.bodies[page.min(self.bodies.len() - 1)].clone(),
            "application/json",
        )
    }
}
