//! Webhook intake and several instances on one PostgreSQL: `cargo bench --bench instances`
//! (`notify` and `poll` need `TEST_DATABASE_URL`, e.g.
//! postgres://postgres@127.0.0.1:5432/test).
//!
//! - `webhook`: one instance in webhook mode on a SQLite store (and on PostgreSQL when
//!   `TEST_DATABASE_URL` is set), `INSTANCES_UPDATES` (5 000) group messages without a
//!   product reference (handled, deduped, no reply: what the bot itself costs per update)
//!   posted by 64 clients at once: updates acknowledged per second, and per second until
//!   the dispatcher had handled them all (read from `/metrics`).
//! - `notify`: 1, 2 and 3 notifiers (each with its own connections, as separate processes
//!   have) delivering 3 000 messages for 1 000 users through a messenger that takes
//!   `INSTANCES_SEND_MS` (20) per send, Telegram's pace left out: what claiming costs and
//!   how delivery scales when sends, not the store, are the bottleneck. (With Telegram's
//!   30 a second, which is the bot's whatever the number of instances, more instances send
//!   no faster: they share it.)
//! - `poll`: 10 000 orders behind a zero-latency fake, read with 1, 2 and 3 instances
//!   competing for the poller's lease: the time until all are stored, and how many order
//!   calls upstream received (one poller: the same as with one instance).

#[path = "../tests/support/mod.rs"]
mod support;

use chrono::Utc;
use douyin_link_bot::lease::{self, Lease};
use douyin_link_bot::notify::{Messenger, Notifier, NotifierSettings, Patience, SendError};
use douyin_link_bot::poller::{Poller, PollerSettings};
use douyin_link_bot::store::{Notice, Store};
use douyin_link_bot::tracking;
use douyin_link_bot::veapi::{OrderSource, VeapiClient};
use futures::future::BoxFuture;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::veapi::OrderPages;
use support::*;
use tokio::sync::{watch, Notify};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer};

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A messenger that takes a fixed time per send and counts them.
struct Slow(Duration, AtomicUsize);

impl Messenger for Slow {
    fn send<'a>(
        &'a self,
        _chat_id: i64,
        _html: &'a str,
        _patience: &'a Patience,
    ) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            tokio::time::sleep(self.0).await;
            self.1.fetch_add(1, Ordering::Relaxed);
            Ok(())
        })
    }
}

async fn notify(instances: usize, send: Duration) -> (f64, usize) {
    let db = TestDb::postgres().await.expect("TEST_DATABASE_URL");
    let setup = Store::open(db.url()).await.unwrap();
    let (users, per_user) = (1_000u64, 3);
    for n in 0..per_user {
        for user in 1..=users {
            let key = format!("{user}-{n}");
            let notice = Notice::text(key.clone(), key);
            setup.enqueue_private(&notice, user, 0).await.unwrap();
        }
    }
    let total = (users * per_user) as i64;
    let messenger = Arc::new(Slow(send, AtomicUsize::new(0)));
    let (stop, shutdown) = watch::channel(false);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..instances {
        let store = Store::open(db.url()).await.unwrap();
        let n = Notifier::new(
            store,
            messenger.clone(),
            Arc::new(Notify::new()),
            NotifierSettings {
                idle_poll: Duration::from_millis(20),
                ..NotifierSettings::default()
            },
        )
        .with_owner(&format!("bench-{i}"));
        tasks.push(tokio::spawn(n.run(shutdown.clone())));
    }
    loop {
        if setup.outbox_counts().await.unwrap().sent == total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = started.elapsed().as_secs_f64();
    stop.send(true).unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    (total as f64 / took, messenger.1.load(Ordering::Relaxed))
}

async fn poll(instances: usize, orders: usize) -> (f64, usize) {
    let db = TestDb::postgres().await.expect("TEST_DATABASE_URL");
    let pages = orders.div_ceil(20);
    let info = tracking::encode(1001);
    let now = douyin_link_bot::poller::china_time(Utc::now().timestamp() - 60);
    let pages_fake = OrderPages::new(pages, &now, |_| (info.clone(), "PAY_SUCC"));
    let calls = pages_fake.calls.clone();
    let server = MockServer::start().await;
    Mock::given(path("/douyin/alliance_kol_orders"))
        .respond_with(pages_fake)
        .mount(&server)
        .await;
    let tg = FakeTelegram::start().await;
    let veapi_cfg = config(&tg, &server, &db).veapi.unwrap();
    let setup = Store::open(db.url()).await.unwrap();
    let (stop, shutdown) = watch::channel(false);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..instances {
        let store = Store::open(db.url()).await.unwrap();
        let (lease, lease_task) = Lease::spawn(
            store.clone(),
            lease::POLLER,
            format!("bench-{i}"),
            Duration::from_secs(30),
            shutdown.clone(),
        );
        let source: Arc<dyn OrderSource> = Arc::new(VeapiClient::new(&veapi_cfg).unwrap());
        let poller = Poller::new(
            source,
            store,
            PollerSettings {
                max_pages: pages + 1,
                first_lookback: Duration::from_secs(600),
                ..PollerSettings::new(Duration::from_secs(60))
            },
            None,
            Arc::new(Notify::new()),
        )
        .with_lease(lease);
        tasks.push(tokio::spawn(poller.run(shutdown.clone())));
        tasks.push(lease_task);
    }
    loop {
        if setup.outbox_counts().await.unwrap().pending as usize >= orders {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = started.elapsed().as_secs_f64() * 1000.0;
    stop.send(true).unwrap();
    for t in tasks {
        let _ = t.await;
    }
    (took, calls.load(Ordering::Relaxed))
}

const SECRET: &str = "bench-webhook-secret-0123456789";

/// Updates acknowledged per second, and handled per second, by one instance in webhook mode.
async fn webhook(db: &TestDb, updates: i64) -> (f64, f64) {
    let tg = FakeTelegram::start().await;
    let veapi = MockServer::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cfg = config_with(
        &tg,
        &veapi,
        db,
        &[
            ("WEBHOOK_URL", "https://bot.example.com/hook"),
            ("WEBHOOK_SECRET", SECRET),
            ("HTTP_LISTEN", &addr.to_string()),
        ],
    );
    let bot = RunningBot::start_on(cfg, listener);
    tg.wait_call("setWebhook").await;
    let http = reqwest::Client::new();
    let handled = |http: reqwest::Client| async move {
        let text = http
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| l.starts_with("dlb_updates_handled_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as i64
    };
    let before = handled(http.clone()).await;
    let next = Arc::new(AtomicUsize::new(0));
    // Update ids never seen by an earlier run on the same store.
    let base = 1_000_000 * (before as usize / 1_000 + 1);
    let message = tg.message(&ALICE_IN_GROUP, json!({"text": "早上好，今天有什么好物？"}));
    let started = Instant::now();
    let clients: Vec<_> = (0..64)
        .map(|_| {
            let (http, next, message) = (http.clone(), next.clone(), message.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i as i64 >= updates {
                        break;
                    }
                    let mut m = message.clone();
                    m["message_id"] = json!(i + 1);
                    let update = json!({"update_id": base + i, "message": m});
                    let status = http
                        .post(format!("http://{addr}/hook"))
                        .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
                        .json(&update)
                        .send()
                        .await
                        .unwrap()
                        .status();
                    assert_eq!(status, 200);
                }
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    let acked = started.elapsed().as_secs_f64();
    while handled(http.clone()).await < before + updates {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let done = started.elapsed().as_secs_f64();
    bot.stop().await;
    (updates as f64 / acked, updates as f64 / done)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    if wanted("webhook") {
        let n = knob("INSTANCES_UPDATES", 5_000) as i64;
        let mut dbs = vec![("SQLite", TestDb::sqlite())];
        if let Some(pg) = TestDb::postgres().await {
            dbs.push(("PostgreSQL", pg));
        }
        for (name, db) in &dbs {
            let (acked, handled) = webhook(db, n).await;
            println!("webhook ({name}): {n} updates from 64 clients: {acked:.0} acknowledged/s, {handled:.0} handled/s");
        }
    }
    if std::env::var("TEST_DATABASE_URL").is_err() {
        println!("instances: not run (set TEST_DATABASE_URL to a PostgreSQL the bench may create schemas in)");
        return;
    }
    if wanted("notify") {
        let send = Duration::from_millis(knob("INSTANCES_SEND_MS", 20));
        for n in 1..=3 {
            let (rate, sends) = notify(n, send).await;
            println!("notify: {n} instance(s), 16 lanes each, {send:?} per send: {rate:.0} messages/s, {sends} sends for 3000 messages");
        }
    }
    if wanted("poll") {
        let orders = knob("INSTANCES_ORDERS", 10_000) as usize;
        for n in 1..=3 {
            let (ms, calls) = poll(n, orders).await;
            println!("poll: {n} instance(s): {orders} orders stored in {ms:.0} ms, {calls} order calls upstream");
        }
    }
}
