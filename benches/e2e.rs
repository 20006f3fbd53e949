//! End-to-end load benchmark: `cargo bench --bench e2e`.
//!
//! The release binary runs as its own process (so its memory is its own) against loopback
//! fakes of Telegram and veapi living in this process. What it reports, and the targets they
//! are held to, is in BENCHMARKS.md. Knobs: `E2E_CHATS` (200), `E2E_LATENCY_MS` (100),
//! `E2E_MAX_IN_FLIGHT` (the bot's default when unset), `E2E_ORDERS` (10000), `E2E_PROMO_REFS`
//! (3, products in each promo text of the `promo` section), `E2E_BOT_LOG`
//! (the bot's `RUST_LOG`, `warn`). `cards` is the burst with product cards on; `promo-cards`
//! the same with each message a promoter's text (cards and rewrite on).

#[path = "../tests/support/mod.rs"]
mod support;

use chrono::Utc;
use douyin_link_bot::config::{Config, Needs};
use douyin_link_bot::poller::{Poller, PollerSettings};
use douyin_link_bot::store::Store;
use douyin_link_bot::tracking;
use douyin_link_bot::veapi::{OrderSource, VeapiClient};
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::veapi::OrderPages;
use support::*;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const BIN: &str = env!("CARGO_BIN_EXE_douyin-link-bot");
/// Telegram's overall limit, which the bot's pace (src/telegram/pace.rs) keeps to.
const TELEGRAM_PER_SEC: f64 = 30.0;

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// (VmRSS, VmHWM) of a process, in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let m = memory_detail(pid);
    (m[0], m[1])
}

/// VmRSS, VmHWM, RssAnon, RssFile of a process, in MiB.
fn memory_detail(pid: u32) -> [f64; 4] {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
            / 1024.0
    };
    [
        field("VmRSS:"),
        field("VmHWM:"),
        field("RssAnon:"),
        field("RssFile:"),
    ]
}

/// veapi's share endpoint answering after `latency`, noting when each call arrived.
struct SlowShare {
    latency: Duration,
    body: String,
    arrivals: Arc<Mutex<Vec<Instant>>>,
}

impl Respond for SlowShare {
    fn respond(&self, _req: &Request) -> ResponseTemplate {
        self.arrivals.lock().unwrap().push(Instant::now());
        ResponseTemplate::new(200)
            .set_body_raw(self.body.clone(), "application/json")
            .set_delay(self.latency)
    }
}

async fn fake_veapi(latency: Duration) -> (MockServer, Arc<Mutex<Vec<Instant>>>) {
    // 200 connections opened at once overflow a default listen backlog (128): the dropped
    // SYNs come back a second later and the fake, not the bot, would set the pace.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(4096).unwrap().into_std().unwrap();
    let server = MockServer::builder().listener(listener).start().await;
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    Mock::given(method("POST"))
        .and(path("/douke/kol_ProductShare"))
        .respond_with(SlowShare {
            latency,
            body: fixture("veapi/share_ok.json"),
            arrivals: arrivals.clone(),
        })
        .mount(&server)
        .await;
    orders_page(&server, None, orders_body(vec![], "")).await;
    (server, arrivals)
}

fn spawn(program: &Path, dir: &Path, tg: &FakeTelegram, veapi: &MockServer) -> Child {
    spawn_with(program, dir, tg, veapi, &[])
}

fn spawn_with(
    program: &Path,
    dir: &Path,
    tg: &FakeTelegram,
    veapi: &MockServer,
    extra: &[(&str, &str)],
) -> Child {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir)
        .env_clear()
        .env("TELEGRAM_BOT_TOKEN", BOT_TOKEN)
        .env("TELEGRAM_API_URL", tg.server.uri())
        .env("VEAPI_KEY", VEKEY)
        .env("VEAPI_BASE_URL", veapi.uri())
        .env(
            "RUST_LOG",
            std::env::var("E2E_BOT_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Ok(n) = std::env::var("E2E_MAX_IN_FLIGHT") {
        cmd.env("VEAPI_MAX_IN_FLIGHT", n);
    }
    cmd.envs(extra.iter().copied());
    cmd.spawn().unwrap()
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

async fn until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The bare teloxide bot of `examples/bare_bot.rs`, built with the bench profile (the same
/// optimisation settings as the bot's binary here).
fn bare_bot() -> Option<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--profile", "bench", "--example", "bare_bot"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .status()
        .ok()?;
    let exe = Path::new(BIN).parent()?.join("examples").join("bare_bot");
    (status.success() && exe.exists()).then_some(exe)
}

/// Start to first getUpdates, five times, with the store of an earlier run in place; then
/// resident memory after two idle seconds.
async fn startup_and_idle(program: &Path, label: &str) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let (veapi, _) = fake_veapi(Duration::ZERO).await;
    let mut times = Vec::new();
    let mut idle_rss = f64::NAN;
    for run in 0..6 {
        let tg = FakeTelegram::start().await;
        let started = Instant::now();
        let child = spawn(program, dir.path(), &tg, &veapi);
        until("the first getUpdates", Duration::from_secs(10), || {
            tg.first_get_updates().is_some()
        })
        .await;
        // The first run creates the store; the others start with it in place.
        if run > 0 {
            times.push(ms(tg.first_get_updates().unwrap() - started));
        }
        if run == 5 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let [rss, _, anon, file] = memory_detail(child.id());
            idle_rss = rss;
            println!("{label}: idle RSS {rss:.1} MiB = {anon:.1} MiB anonymous + {file:.1} MiB file-backed (code)");
        }
        stop(child);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{label}: start to first getUpdates median {:.1} ms, max {:.1} ms (5 starts); idle RSS {:.1} MiB",
        percentile(&times, 0.5),
        times[times.len() - 1],
        idle_rss
    );
    (percentile(&times, 0.5), idle_rss)
}

/// The release binary on a fresh store, against fresh fakes, ready (it has asked for
/// updates). The temporary folder and the fakes live as long as the tuple.
async fn started_bot(
    latency: Duration,
) -> (
    tempfile::TempDir,
    FakeTelegram,
    MockServer,
    Arc<Mutex<Vec<Instant>>>,
    Child,
) {
    let dir = tempfile::tempdir().unwrap();
    let tg = FakeTelegram::start().await;
    let (veapi, arrivals) = fake_veapi(latency).await;
    let child = spawn(Path::new(BIN), dir.path(), &tg, &veapi);
    until("the bot", Duration::from_secs(10), || {
        tg.first_get_updates().is_some()
    })
    .await;
    (dir, tg, veapi, arrivals, child)
}

/// Each reply's time from its message's delivery, less the upstream latency, sorted (ms).
fn turnarounds(tg: &FakeTelegram, latency: Duration) -> Vec<f64> {
    let mut out: Vec<f64> = tg
        .sent_timed()
        .iter()
        .filter_map(|(m, t)| {
            let id = m["reply_parameters"]["message_id"].as_i64()?;
            Some(ms(*t - tg.delivered_at(id)?) - ms(latency))
        })
        .collect();
    out.sort_by(f64::total_cmp);
    out
}

/// `chats` private chats each send one product at the same moment.
async fn burst(chats: u64, latency: Duration) {
    let (_dir, tg, _veapi, arrivals, child) = started_bot(latency).await;

    let ids: Vec<i64> = (0..chats)
        .map(|i| {
            let from = Sender {
                user_id: 100_000 + i,
                chat_id: 100_000 + i as i64,
            };
            tg.push_text(&from, &(3_583_117_383_482_600_000 + i).to_string())
        })
        .collect();
    until("every reply", Duration::from_secs(120), || {
        tg.count_sent(|_| true) as u64 >= chats
    })
    .await;
    let (_, peak) = memory(child.id());
    stop(child);

    let delivered = ids
        .iter()
        .filter_map(|id| tg.delivered_at(*id))
        .min()
        .unwrap();
    let arrivals = arrivals.lock().unwrap().clone();
    let first_call = arrivals.iter().min().unwrap();
    let last_call = arrivals.iter().max().unwrap();
    let conversions_done = *last_call + latency - delivered;

    let sent = tg.sent_timed();
    let mut at: Vec<Instant> = sent.iter().map(|(_, t)| *t).collect();
    at.sort();
    let span = at[at.len() - 1] - at[0];
    // The most replies that left within any one second.
    let busiest = (0..at.len())
        .map(|i| {
            at[i..]
                .iter()
                .take_while(|t| **t - at[i] < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0);
    let overhead = turnarounds(&tg, latency);
    println!(
        "burst: {chats} chats at once, veapi {} ms: {} upstream calls, first {:.1} ms and last {:.1} ms after delivery; \
all conversions done {:.1} ms after delivery = {:.2} × one upstream call",
        ms(latency),
        arrivals.len(),
        ms(*first_call - delivered),
        ms(*last_call - delivered),
        ms(conversions_done),
        conversions_done.as_secs_f64() / latency.as_secs_f64(),
    );
    println!(
        "burst: replies: first {:.1} ms after delivery, {} in {:.0} ms ({:.1}/s; evenly at exactly {TELEGRAM_PER_SEC}/s they would take {:.0} ms), \
at most {busiest} within any one second (Telegram allows {TELEGRAM_PER_SEC}); reply − delivery − upstream p50 {:.0} ms, p99 {:.0} ms (pace-bound); peak RSS {:.1} MiB",
        ms(at[0] - delivered),
        at.len(),
        ms(span),
        (at.len() - 1) as f64 / span.as_secs_f64(),
        (at.len() - 1) as f64 * 1000.0 / TELEGRAM_PER_SEC,
        percentile(&overhead, 0.5),
        percentile(&overhead, 0.99),
        peak,
    );
}

/// `chats` private chats each send one product at the same moment, with product cards on
/// (REBATE_PERCENT=15): every product has details and an https cover, so every reply is a
/// photo. `in_share`: veapi answers the details on the conversion call (`detail=3`);
/// otherwise kol_ProductShare carries none and the bot looks them up in batches of 20
/// (kol_MaterialsProductsDetails, the same latency). "Done" is the last upstream call's
/// answer, measured from the first message's delivery, as in `burst`: the replies then
/// leave at Telegram's pace, which no bot may beat. `promo`: each message is a promoter's
/// text around its product (emoji, prices, words, a line of HTML-looking text), so each
/// chat also gets the rewrite: details and rewrite on together, issue 12's target.
async fn cards(chats: u64, latency: Duration, in_share: bool, promo: bool) {
    let base = 3_583_117_383_482_600_000u64;
    let products = (0..chats)
        .map(|i| {
            let id = (base + i).to_string();
            support::cards::product_json(
                &id,
                &format!("商品 {i}"),
                1990,
                &format!("https://p3-aio.ecombdimg.com/obj/cover{i}.jpg"),
            )
        })
        .collect();
    let cat = support::cards::Catalogue::new(products, in_share).with_latency(latency);
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(4096).unwrap().into_std().unwrap();
    let veapi = MockServer::builder().listener(listener).start().await;
    cat.mount(&veapi).await;
    orders_page(&veapi, None, orders_body(vec![], "")).await;
    let dir = tempfile::tempdir().unwrap();
    let tg = FakeTelegram::start().await;
    let child = spawn_with(
        Path::new(BIN),
        dir.path(),
        &tg,
        &veapi,
        &[("REBATE_PERCENT", "15")],
    );
    until("the bot", Duration::from_secs(10), || {
        tg.first_get_updates().is_some()
    })
    .await;
    let ids: Vec<i64> = (0..chats)
        .map(|i| {
            let from = Sender {
                user_id: 300_000 + i,
                chat_id: 300_000 + i as i64,
            };
            let id = (base + i).to_string();
            let text = if promo {
                format!("🔥今日好物 第{i}期 <b>限时</b>\n1️⃣ 好物 券后¥19.9 👉 {id} 手慢无！\n冲！")
            } else {
                id
            };
            tg.push_text(&from, &text)
        })
        .collect();
    let is_rewrite =
        |m: &serde_json::Value| m["text"].as_str().is_some_and(|t| t.contains("<pre>"));
    let replies = if promo { 2 * chats } else { chats };
    until("every reply", Duration::from_secs(180), || {
        tg.count_sent(|_| true) as u64 >= replies
    })
    .await;
    let rewrites = tg.count_sent(is_rewrite);
    stop(child);
    let delivered = ids
        .iter()
        .filter_map(|id| tg.delivered_at(*id))
        .min()
        .unwrap();
    let arrivals = cat.arrivals.lock().unwrap().clone();
    let last_call = arrivals.iter().max().unwrap();
    let done = *last_call + latency - delivered;
    let last_of = |list: &Arc<Mutex<Vec<Instant>>>| {
        list.lock()
            .unwrap()
            .iter()
            .max()
            .map_or(0.0, |t| ms(*t - delivered))
    };
    let (last_share, last_lookup) = (last_of(&cat.share_arrivals), last_of(&cat.details_arrivals));
    if done > 3 * latency {
        outlier(&veapi, &tg, base, &ids, delivered).await;
    }
    let photos = tg
        .sent()
        .iter()
        .filter(|m| m["method"] == "sendPhoto")
        .count();
    let with_rebate = tg
        .sent()
        .iter()
        .filter(|m| m["caption"].as_str().is_some_and(|c| c.contains("¥0.29")))
        .count();
    println!(
        "cards ({}{}): {chats} chats at once, veapi {} ms: {} kol_ProductShare + {} kol_MaterialsProductsDetails calls; \
all conversions with details done {:.1} ms after delivery = {:.2} × one upstream call; {photos} photo cards, {with_rebate} showing the rebate, {rewrites} rewrites \
(last share call {last_share:.1} ms, last lookup {last_lookup:.1} ms after delivery)",
        if in_share { "details on the share call, detail=3" } else { "share without details, batched lookup" },
        if promo { ", promo texts: rewrite on" } else { "" },
        ms(latency),
        cat.share_calls(),
        cat.details_calls(),
        ms(done),
        done.as_secs_f64() / latency.as_secs_f64(),
    );
}

/// Says what the last conversion call of a slow `cards` run was for: when its chat's message
/// was handed to the bot and when that chat's replies were sent (a late delivery is the
/// fake's doing; a late call after an early delivery, the bot's).
async fn outlier(
    veapi: &MockServer,
    tg: &FakeTelegram,
    base: u64,
    ids: &[i64],
    delivered: Instant,
) {
    let requests = veapi.received_requests().await.unwrap_or_default();
    let Some(last) = requests
        .iter()
        .rev()
        .find(|r| r.url.path().ends_with("kol_ProductShare"))
    else {
        return;
    };
    let body = String::from_utf8_lossy(&last.body).to_string();
    let product = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "productUrl")
        .and_then(|(_, v)| v.parse::<u64>().ok());
    let Some(i) = product.map(|p| p - base) else {
        println!("outlier: last share call without a product id: {body:.200}");
        return;
    };
    let chat = 300_000 + i as i64;
    let handed = ids
        .get(i as usize)
        .and_then(|id| tg.delivered_at(*id))
        .map(|t| ms(t - delivered));
    let replies: Vec<String> = tg
        .sent_timed()
        .iter()
        .filter(|(m, _)| m["chat_id"].as_i64() == Some(chat))
        .map(|(m, t)| format!("{} at {:.0} ms", m["method"], ms(*t - delivered)))
        .collect();
    println!(
        "outlier: the last share call was chat {chat}'s (product {i}); its message handed to the bot at {handed:?} ms; replies: {replies:?}; {} share calls received in all",
        requests.iter().filter(|r| r.url.path().ends_with("kol_ProductShare")).count()
    );
}

/// Messages at 10 per second, under Telegram's pace: what the bot adds to one round trip.
async fn steady(latency: Duration) {
    let (_dir, tg, veapi, _, child) = started_bot(latency).await;
    let n = 100u64;
    for i in 0..n {
        let from = Sender {
            user_id: 200_000 + i,
            chat_id: 200_000 + i as i64,
        };
        tg.push_text(&from, &(3_583_117_383_482_700_000 + i).to_string());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    until("every reply", Duration::from_secs(60), || {
        tg.count_sent(|_| true) as u64 >= n
    })
    .await;
    stop(child);
    let overhead = turnarounds(&tg, latency);

    // What the fakes themselves cost: one call to each, from a client in this process.
    let client = reqwest::Client::new();
    let mut rtt = Vec::new();
    for i in 0..50 {
        let started = Instant::now();
        client
            .post(format!("{}/bot{BOT_TOKEN}/sendMessage", tg.server.uri()))
            .json(&json!({"chat_id": 900_000 + i, "text": "x"}))
            .send()
            .await
            .unwrap();
        client
            .post(format!("{}/douke/kol_ProductShare", veapi.uri()))
            .form(&[("vekey", VEKEY), ("productUrl", "1")])
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        rtt.push(ms(started.elapsed()) - ms(latency));
    }
    rtt.sort_by(f64::total_cmp);
    println!(
        "steady: the two loopback calls alone (fake veapi + fake sendMessage, from the bench): p50 {:.2} ms",
        percentile(&rtt, 0.5)
    );
    println!(
        "steady: {n} messages at 10/s, veapi {} ms: reply − delivery − upstream p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(latency),
        percentile(&overhead, 0.5),
        percentile(&overhead, 0.99),
        overhead[overhead.len() - 1],
    );
}

/// 20 chats sending 3 messages each at once: each chat's replies come in its messages' order.
async fn per_chat_order(latency: Duration) {
    let (_dir, tg, _veapi, _, child) = started_bot(latency).await;
    for round in 0..3u64 {
        for c in 0..20u64 {
            let from = Sender {
                user_id: 300_000 + c,
                chat_id: 300_000 + c as i64,
            };
            tg.push_text(
                &from,
                &(3_583_117_383_482_800_000 + round * 100 + c).to_string(),
            );
        }
    }
    until("every reply", Duration::from_secs(60), || {
        tg.count_sent(|_| true) >= 60
    })
    .await;
    stop(child);
    let mut by_chat: HashMap<i64, Vec<i64>> = HashMap::new();
    for m in tg.sent() {
        by_chat
            .entry(m["chat_id"].as_i64().unwrap())
            .or_default()
            .push(m["reply_parameters"]["message_id"].as_i64().unwrap());
    }
    let in_order = by_chat
        .values()
        .all(|ids| ids.windows(2).all(|w| w[0] < w[1]));
    println!(
        "order: 20 chats × 3 messages at once: replies in each chat's message order: {}",
        if in_order { "yes" } else { "NO" }
    );
}

/// One poll reading `orders` orders (20 a page) from a zero-latency fake into a fresh store.
async fn poll_orders(orders: u64) {
    let pages = orders.div_ceil(20) as usize;
    let info = tracking::encode(1001);
    let now = douyin_link_bot::poller::china_time(Utc::now().timestamp() - 60);
    let pages_fake = OrderPages::new(pages, &now, |n| {
        let who = if n % 5 == 4 {
            "someone_else".to_string()
        } else {
            info.clone()
        };
        (
            who,
            ["PAY_SUCC", "SETTLE", "REFUND", "CONFIRM"][(n % 20 % 4) as usize],
        )
    });
    let server = MockServer::start().await;
    Mock::given(path("/douyin/alliance_kol_orders"))
        .respond_with(pages_fake)
        .mount(&server)
        .await;

    for postgres in [false, true] {
        let mut times = Vec::new();
        for _ in 0..3 {
            let db = if postgres {
                match TestDb::postgres().await {
                    Some(db) => db,
                    None => {
                        println!("poller on PostgreSQL: not run (set TEST_DATABASE_URL)");
                        return;
                    }
                }
            } else {
                TestDb::sqlite()
            };
            times.push(poll_once_into(&server, &db, pages).await);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "poller ({}): {} orders on {pages} pages polled, parsed and stored (with their outbox rows) in median {:.0} ms, max {:.0} ms (3 fresh stores)",
            if postgres { "PostgreSQL 127.0.0.1" } else { "SQLite file" },
            pages * 20,
            times[1],
            times[2]
        );
    }
}

/// One poll of all `pages` into a fresh store on `db`; its time in ms.
async fn poll_once_into(server: &MockServer, db: &TestDb, pages: usize) -> f64 {
    let store = Store::open(db.url()).await.unwrap();
    let vars = HashMap::from([
        ("VEAPI_KEY", VEKEY.to_string()),
        ("VEAPI_BASE_URL", server.uri()),
    ]);
    let config = Config::from_lookup(|k| vars.get(k).cloned(), Needs::default()).unwrap();
    let source: Arc<dyn OrderSource> = Arc::new(VeapiClient::new(&config.veapi.unwrap()).unwrap());
    let settings = PollerSettings {
        // One window holds them all: this measures reading and storing, not splitting.
        max_pages: pages + 1,
        first_lookback: Duration::from_secs(600),
        ..PollerSettings::new(Duration::from_secs(60))
    };
    let poller = Poller::new(
        source,
        store.clone(),
        settings,
        None,
        Arc::new(tokio::sync::Notify::new()),
    );
    let started = Instant::now();
    let report = poller.poll_once(Utc::now()).await.unwrap();
    let took = ms(started.elapsed());
    assert_eq!(report.stats.new_orders as u64, pages as u64 * 20);
    let queued = store.outbox_counts().await.unwrap().pending;
    assert!(queued > 0);
    store.close().await;
    took
}

/// `chats` private chats each paste a promo text with `refs` products and words of their own
/// at the same moment: each gets the usual reply and the rewrite (issue 12), from one
/// conversion per product.
async fn promo(chats: u64, refs: u64, latency: Duration) {
    let (_dir, tg, _veapi, arrivals, child) = started_bot(latency).await;
    let ids: Vec<i64> = (0..chats)
        .map(|i| {
            let from = Sender {
                user_id: 200_000 + i,
                chat_id: 200_000 + i as i64,
            };
            let mut text = format!("🔥今日好物 第{i}期 <b>限时</b>\n");
            for r in 0..refs {
                let product = 3_583_117_383_482_600_000 + i * refs + r;
                text.push_str(&format!(
                    "{}️⃣ 好物 券后¥{r}9.9 👉 {product} 手慢无！\n",
                    r % 10
                ));
            }
            text.push_str("冲！");
            tg.push_text(&from, &text)
        })
        .collect();
    let is_rewrite =
        |m: &serde_json::Value| m["text"].as_str().is_some_and(|t| t.contains("<pre>"));
    until("every rewrite", Duration::from_secs(180), || {
        tg.count_sent(is_rewrite) as u64 >= chats
    })
    .await;
    let (_, peak) = memory(child.id());
    stop(child);

    let delivered = ids
        .iter()
        .filter_map(|id| tg.delivered_at(*id))
        .min()
        .unwrap();
    let arrivals = arrivals.lock().unwrap().clone();
    let last_call = arrivals.iter().max().unwrap();
    let conversions_done = *last_call + latency - delivered;
    let sent = tg.sent_timed();
    let rewrites: Vec<Instant> = sent
        .iter()
        .filter(|(m, _)| is_rewrite(m))
        .map(|(_, t)| *t)
        .collect();
    let last_rewrite = rewrites.iter().max().unwrap();
    println!(
        "promo: {chats} chats at once, {refs} products each, veapi {} ms: {} upstream calls (one per product), \
all conversions done {:.1} ms after delivery = {:.2} × one upstream call; {} messages sent ({} rewrites), \
the last rewrite {:.0} ms after delivery (pace-bound: two messages a chat); peak RSS {:.1} MiB",
        ms(latency),
        arrivals.len(),
        ms(conversions_done),
        conversions_done.as_secs_f64() / latency.as_secs_f64(),
        sent.len(),
        rewrites.len(),
        ms(*last_rewrite - delivered),
        peak,
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects sections by name.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    let latency = Duration::from_millis(knob("E2E_LATENCY_MS", 100));
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    println!(
        "machine: {} cores, {cpu}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if wanted("startup") || wanted("memory") {
        let (bot_start, bot_rss) = startup_and_idle(Path::new(BIN), "douyin-link-bot").await;
        match bare_bot() {
            Some(bare) => {
                let (bare_start, bare_rss) = startup_and_idle(&bare, "bare teloxide bot").await;
                println!(
                    "ratios: idle RSS {:.2} × the bare bot; start-up {:.2} × the bare bot",
                    bot_rss / bare_rss,
                    bot_start / bare_start
                );
            }
            None => println!("bare teloxide bot: could not build examples/bare_bot; no ratio"),
        }
    }
    if wanted("burst") {
        burst(knob("E2E_CHATS", 200), latency).await;
    }
    if wanted("promo") {
        promo(knob("E2E_CHATS", 200), knob("E2E_PROMO_REFS", 3), latency).await;
    }
    if wanted("cards") {
        cards(knob("E2E_CHATS", 200), latency, true, false).await;
        cards(knob("E2E_CHATS", 200), latency, false, false).await;
    }
    // Issue 12's target: details and rewrite on, 200 chats converting at once.
    if wanted("promo-cards") {
        cards(knob("E2E_CHATS", 200), latency, true, true).await;
        cards(knob("E2E_CHATS", 200), latency, false, true).await;
    }
    if wanted("steady") {
        steady(latency).await;
    }
    if wanted("order") {
        per_chat_order(latency).await;
    }
    if wanted("poller") {
        poll_orders(knob("E2E_ORDERS", 10_000)).await;
    }
}
