//! Several real processes on one PostgreSQL (issue 10, "How it is shown"): three instances
//! of the built binary in webhook mode share one schema. The test is their load balancer
//! (updates spread round-robin over the three, some delivered again to another instance as
//! Telegram does after a timeout) and drives a fake Bot API and a fake veapi. 50 users
//! convert a link; 100 orders bought through those links appear upstream over several polls;
//! the instance holding the order poller is SIGKILLed while its notifications are at
//! Telegram unanswered, and later the poller's next holder is stopped with SIGTERM while it
//! has sends in flight.
//!
//! What users saw and upstream received: one reply per link and one kol_ProductShare call
//! per user (no update handled twice, redeliveries included); every order told, each once,
//! except messages the SIGKILLed instance had in flight (read from its outbox claims right
//! after the kill: it never heard Telegram's answer, so its claim lapses and another
//! instance sends it again); the poller taken over within one poll interval of the kill, from
//! the stored watermark (orders dated before the kill but listed upstream only after it are
//! told); the SIGTERMed instance answers and marks its sends in flight and exits 0, leaving
//! no claim behind and nothing of its repeated.
//!
//! Runs only with `TEST_DATABASE_URL` set (CI sets it); otherwise it passes without running.

mod support;

use douyin_link_bot::poller::{china_time, parse_china_time, PollerSettings};
use douyin_link_bot::tracking;
use serde_json::{json, Value};
use sqlx::Connection;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const BIN: &str = env!("CARGO_BIN_EXE_douyin-link-bot");
const SECRET: &str = "e2e_Webhook-secret-0123456789";
const HOOK_PATH: &str = "/tg/hook";
const SHARE: &str = "9.28 reo:/ r@r.Rx 01/26 【抖音商城】https://v.douyin.com/i2wDMRRN/ 【卡宾熊】130g*10袋猫耳酥\n长按复制此条消息，打开抖音搜索，查看商品详情！";
const PASSWORD: &str = "3M长按:/ 緮墆此条消息,da幵ƊƟưƴƖƞ瞍?,查看商品详情ŠŠko4RythQX4B8▽▽";
const USERS: u64 = 50;
const ORDERS: usize = 100;
/// How long Telegram takes to answer a sendMessage once the orders come: a kill in that
/// time leaves the message delivered but not known to be.
const SEND_DELAY: Duration = Duration::from_millis(400);
/// ... and around the SIGKILL and the SIGTERM: long enough that the instance stopped surely
/// has messages at Telegram, unanswered, when the signal comes.
const SLOW_SEND: Duration = Duration::from_secs(3);
/// The instances' order poll interval: the poller is taken over within one.
const POLL_INTERVAL: Duration = Duration::from_secs(5);
/// What a loaded two-core host may add to the takeover (process scheduling, not the bot's
/// timing): the property is one poll interval.
const TAKEOVER_SLACK: Duration = Duration::from_secs(2);
/// Generous on a loaded two-core machine: a wait that fails is a bug, not a slow host.
const WAIT: Duration = Duration::from_secs(40);

/// One bot process, its HTTP address and its log.
struct Instance {
    name: &'static str,
    child: Option<Child>,
    pid: u32,
    addr: SocketAddr,
    log: PathBuf,
}

/// The running instances; any still alive when the test ends (a failure) are killed, and
/// on a failure the end of each log is printed.
struct Fleet(Vec<Instance>);

impl Drop for Fleet {
    fn drop(&mut self) {
        for i in &mut self.0 {
            if let Some(mut c) = i.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            if std::thread::panicking() {
                let log = std::fs::read_to_string(&i.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(60).collect();
                eprintln!("---- {} (pid {}) log tail ----", i.name, i.pid);
                for line in tail.into_iter().rev() {
                    eprintln!("{}", strip_ansi(line));
                }
            }
        }
    }
}

fn spawn(
    name: &'static str,
    dir: &Path,
    db: &TestDb,
    tg: &FakeTelegram,
    veapi: &MockServer,
) -> (Child, PathBuf) {
    let log = dir.join(format!("{name}.log"));
    let child = Command::new(BIN)
        .current_dir(dir)
        .env_clear()
        .env("DATABASE_URL", db.url())
        .env("TELEGRAM_BOT_TOKEN", BOT_TOKEN)
        .env("TELEGRAM_API_URL", tg.server.uri())
        .env("VEAPI_KEY", VEKEY)
        .env("VEAPI_BASE_URL", veapi.uri())
        .env(
            "WEBHOOK_URL",
            format!("https://bot.example.test{HOOK_PATH}"),
        )
        .env("WEBHOOK_SECRET", SECRET)
        // Port 0: the address is read from the log, so no port is raced for.
        .env("HTTP_LISTEN", "127.0.0.1:0")
        .env(
            "ORDER_POLL_INTERVAL_SECS",
            POLL_INTERVAL.as_secs().to_string(),
        )
        .env("OUTBOX_CLAIM_SECS", "5")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    (child, log)
}

/// The address the instance announces in its log ("HTTP server listening addr=…").
async fn listening_addr(log: &Path, child: &mut Child) -> SocketAddr {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = strip_ansi(&std::fs::read_to_string(log).unwrap_or_default());
        if let Some(line) = text.lines().find(|l| l.contains("HTTP server listening")) {
            let at = line.find("addr=").expect("the address is logged") + "addr=".len();
            return line[at..]
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap();
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("instance exited at start ({status:?}):\n{text}");
        }
        assert!(Instant::now() < deadline, "never listening:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Fleet {
    fn get(&mut self, pid: u32) -> &mut Instance {
        self.0.iter_mut().find(|i| i.pid == pid).unwrap()
    }

    fn alive(&self) -> Vec<&Instance> {
        self.0.iter().filter(|i| i.child.is_some()).collect()
    }
}

impl Instance {
    /// SIGKILL: no chance to finish, mark or release anything.
    fn kill_9(&mut self) {
        let mut c = self.child.take().expect("alive");
        c.kill().unwrap();
        c.wait().unwrap();
    }

    fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    async fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        let c = self.child.as_mut().expect("alive");
        let status = loop {
            if let Some(s) = c.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "{} no exit after SIGTERM",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        self.child = None;
        status
    }
}

/// Upstream's orders as they appear over time: alliance_kol_orders answers the orders
/// updated within the asked `start_time..=end_time` (`time_type=update`), `size` a page,
/// the next page at `cursor` and an empty cursor on the last page ("the last page returns
/// an empty cursor", ../shared/veapi.md on douyin/alliance_kol_orders). An order may be
/// listed later than its update_time (`add_dated`): upstream's listing lags.
#[derive(Clone, Default)]
struct Upstream {
    orders: Arc<Mutex<Vec<Value>>>,
    /// Every orders request: when it came, its `start_time` and `end_time`.
    asked: Arc<Mutex<Vec<(Instant, String, String)>>>,
}

impl Upstream {
    /// Orders `range` (1-based) appear now, updated now.
    fn add(&self, range: std::ops::RangeInclusive<usize>) {
        self.add_dated(range, &china_time(chrono::Utc::now().timestamp()));
    }

    /// Orders `range` appear now, updated at `update_time` (China time), each bought
    /// through user `(n - 1) % 50 + 1`'s link.
    fn add_dated(&self, range: std::ops::RangeInclusive<usize>, update_time: &str) {
        let mut all = self.orders.lock().unwrap();
        for n in range {
            let user = (n as u64 - 1) % USERS + 1;
            all.push(order_json(
                &order_id(n),
                &tracking::encode(user_id(user)),
                "PAY_SUCC",
                update_time,
            ));
        }
    }

    /// The orders requests so far.
    fn asked(&self) -> Vec<(Instant, String, String)> {
        self.asked.lock().unwrap().clone()
    }
}

impl Respond for Upstream {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let f = form(req);
        let (start, end) = (f["start_time"].as_str(), f["end_time"].as_str());
        self.asked
            .lock()
            .unwrap()
            .push((Instant::now(), start.to_string(), end.to_string()));
        let size: usize = f["size"].parse().unwrap();
        let offset: usize = f
            .get("cursor")
            .map(|c| c.parse().expect("a cursor this fake gave"))
            .unwrap_or(0);
        let matching: Vec<Value> = self
            .orders
            .lock()
            .unwrap()
            .iter()
            .filter(|o| {
                let t = o["update_time"].as_str().unwrap();
                start <= t && t <= end
            })
            .cloned()
            .collect();
        let page: Vec<Value> = matching.iter().skip(offset).take(size).cloned().collect();
        let next = offset + page.len();
        let cursor = if next < matching.len() {
            next.to_string()
        } else {
            String::new()
        };
        orders_body(page, &cursor)
    }
}

fn user_id(n: u64) -> u64 {
    700_000 + n
}

fn order_id(n: usize) -> String {
    format!("69{:017}", 4_200_000 + n)
}

/// The message id of user `n`'s link (update `n`).
fn link_message(n: u64) -> i64 {
    5_000 + n as i64
}

fn text(m: &Value) -> &str {
    m["text"].as_str().unwrap_or_default()
}

/// How many sendMessage requests told order `n` as new.
fn told_new(sent: &[Value], n: usize) -> usize {
    let code = format!("<code>{}</code>", order_id(n));
    sent.iter()
        .filter(|m| text(m).contains("新订单") && text(m).contains(&code))
        .count()
}

/// Which orders (1-based) a sent message tells of.
fn order_of(m: &Value) -> Option<usize> {
    (1..=ORDERS).find(|n| text(m).contains(&format!("<code>{}</code>", order_id(*n))))
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Who holds the order poller's lease now (unexpired), as the pid in its holder
/// `host:pid:nanos`.
async fn poller_pid(conn: &mut sqlx::PgConnection) -> Option<u32> {
    let now = chrono::Utc::now().timestamp();
    let row: Option<(String,)> =
        sqlx::query_as("SELECT holder FROM leases WHERE name = 'order_poller' AND expires_at > $1")
            .bind(now)
            .fetch_optional(conn)
            .await
            .unwrap();
    row.map(|(holder,)| {
        holder
            .rsplit(':')
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("holder {holder} is host:pid:nanos"))
    })
}

/// Waits until the poller's lease is held by one of `among`, and returns its pid.
async fn wait_poller(conn: &mut sqlx::PgConnection, among: &[u32]) -> u32 {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(pid) = poller_pid(conn).await {
            if among.contains(&pid) {
                return pid;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the poller lease is not held by any of {among:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Outbox rows by status.
async fn outbox(conn: &mut sqlx::PgConnection) -> HashMap<String, i64> {
    sqlx::query_as::<_, (String, i64)>("SELECT status, COUNT(*) FROM outbox GROUP BY status")
        .fetch_all(conn)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// The order (1-based) an outbox row tells of as new: its dedupe key is `order:<id>:NEW`.
fn order_of_key(key: &str) -> Option<usize> {
    let id = key.strip_prefix("order:")?.strip_suffix(":NEW")?;
    (1..=ORDERS).find(|n| order_id(*n) == id)
}

/// The orders whose outbox rows instance `pid` has claimed and not marked sent: the
/// messages it has on their way. A claim names its instance `host:pid:nanos`.
async fn claimed_by(conn: &mut sqlx::PgConnection, pid: u32) -> Vec<usize> {
    let keys: Vec<String> = sqlx::query_scalar(
        "SELECT dedupe_key FROM outbox WHERE claimed_by LIKE $1 AND status <> 'sent' ORDER BY id",
    )
    .bind(format!("%:{pid}:%"))
    .fetch_all(conn)
    .await
    .unwrap();
    keys.iter()
        .map(|k| order_of_key(k).unwrap_or_else(|| panic!("outbox row {k} is not an order's")))
        .collect()
}

/// Outbox rows claimed by instance `pid`, whatever their status.
async fn claims_left(conn: &mut sqlx::PgConnection, pid: u32) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE claimed_by LIKE $1")
        .bind(format!("%:{pid}:%"))
        .fetch_one(conn)
        .await
        .unwrap()
}

/// The orders whose message is marked sent.
async fn marked_sent(conn: &mut sqlx::PgConnection) -> HashSet<usize> {
    let keys: Vec<String> =
        sqlx::query_scalar("SELECT dedupe_key FROM outbox WHERE status = 'sent'")
            .fetch_all(conn)
            .await
            .unwrap();
    keys.iter().filter_map(|k| order_of_key(k)).collect()
}

/// When Telegram received each sendMessage telling order `n`.
fn arrivals(tg: &FakeTelegram, n: usize) -> Vec<Instant> {
    tg.sent_timed()
        .into_iter()
        .filter(|(m, _)| order_of(m) == Some(n))
        .map(|(_, at)| at)
        .collect()
}

/// Waits until instance `pid` has a message at Telegram unanswered, with a second to spare
/// before the answer comes, and `ready` holds: a row it claimed and has not marked sent,
/// whose sendMessage arrived after `since` (when answers became [`SLOW_SEND`] slow) and
/// less than `SLOW_SEND` less a second ago, orders in `besides` left out. Returns what it
/// had claimed then.
async fn wait_sending(
    conn: &mut sqlx::PgConnection,
    tg: &FakeTelegram,
    pid: u32,
    since: Instant,
    besides: &[usize],
    ready: impl Fn() -> bool,
) -> Vec<usize> {
    let deadline = Instant::now() + WAIT;
    loop {
        let claimed = claimed_by(conn, pid).await;
        let fresh = Instant::now()
            .checked_sub(SLOW_SEND - Duration::from_secs(1))
            .map_or(since, |t| t.max(since));
        let sent = tg.sent_timed();
        let at_telegram = claimed.iter().any(|n| {
            !besides.contains(n)
                && sent
                    .iter()
                    .any(|(m, at)| *at > fresh && order_of(m) == Some(*n))
        });
        if at_telegram && ready() {
            return claimed;
        }
        assert!(
            Instant::now() < deadline,
            "instance {pid} never had a message at Telegram at the right time (claimed: {claimed:?})"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// POSTs an update to one instance the way Telegram does; returns the status.
async fn deliver(http: &reqwest::Client, to: SocketAddr, update: &Value) -> u16 {
    http.post(format!("http://{to}{HOOK_PATH}"))
        .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
        .json(update)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn scrape(http: &reqwest::Client, at: SocketAddr) -> String {
    let resp = http
        .get(format!("http://{at}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

/// A sample's value in Prometheus text (`name{labels} value`); 0 when absent (a counter
/// never incremented is not exported).
fn metric(text: &str, sample: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
        .map(|v| v.trim().parse::<f64>().unwrap() as u64)
        .unwrap_or(0)
}

/// Notifications each live instance has sent so far (its `dlb_notifications_sent_total`),
/// for the report: how the sending spreads over the instances.
async fn sent_by(http: &reqwest::Client, fleet: &Fleet) -> String {
    let mut out = Vec::new();
    for i in fleet.alive() {
        let m = scrape(http, i.addr).await;
        out.push(format!(
            "{}={}",
            i.name,
            metric(&m, "dlb_notifications_sent_total")
        ));
    }
    out.join(" ")
}

#[tokio::test(flavor = "multi_thread")]
async fn three_instances_survive_a_kill_and_a_stop_without_losing_or_repeating() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let started = Instant::now();
    let tg = FakeTelegram::start().await;
    let veapi = MockServer::start().await;
    // A conversion takes a moment, so a redelivered update races its first delivery.
    share_reply(
        &veapi,
        None,
        json_body("veapi/share_ok.json").set_delay(Duration::from_millis(150)),
    )
    .await;
    let upstream = Upstream::default();
    Mock::given(method("POST"))
        .and(path("/douyin/alliance_kol_orders"))
        .respond_with(upstream.clone())
        .mount(&veapi)
        .await;
    // The instances' logs; E2E_KEEP_LOGS=1 keeps them (the path is printed).
    let tmp = tempfile::tempdir().unwrap();
    let (_tmp, dir) = if std::env::var_os("E2E_KEEP_LOGS").is_some() {
        let dir = tmp.keep();
        eprintln!("instance logs in {}", dir.display());
        (None, dir)
    } else {
        let dir = tmp.path().to_path_buf();
        (Some(tmp), dir)
    };

    // Three instances started together (they race for the migrations and the lease).
    let mut fleet = Fleet(Vec::new());
    for name in ["a", "b", "c"] {
        let (child, log) = spawn(name, &dir, &db, &tg, &veapi);
        fleet.0.push(Instance {
            name,
            pid: child.id(),
            child: Some(child),
            addr: "0.0.0.0:0".parse().unwrap(),
            log,
        });
    }
    for i in &mut fleet.0 {
        let child = i.child.as_mut().unwrap();
        i.addr = listening_addr(&i.log, child).await;
    }
    let addrs: Vec<SocketAddr> = fleet.0.iter().map(|i| i.addr).collect();
    let pids: Vec<u32> = fleet.0.iter().map(|i| i.pid).collect();
    let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
    let first_poller = wait_poller(&mut conn, &pids).await;

    // 50 users paste a link in private, spread round-robin; every 5th update is also
    // delivered to the next instance at the same time (Telegram retrying after a timeout).
    let http = reqwest::Client::new();
    for n in 1..=USERS {
        let user = Sender {
            user_id: user_id(n),
            chat_id: user_id(n) as i64,
        };
        let mut message = tg.message(&user, json!({ "text": SHARE }));
        message["message_id"] = json!(link_message(n));
        let update = json!({ "update_id": 90_000 + n, "message": message });
        let to = addrs[n as usize % 3];
        if n % 5 == 0 {
            let again = addrs[(n as usize + 1) % 3];
            let (a, b) = tokio::join!(deliver(&http, to, &update), deliver(&http, again, &update));
            assert_eq!((a, b), (200, 200), "both deliveries acknowledged");
        } else {
            assert_eq!(deliver(&http, to, &update).await, 200);
        }
    }
    let is_link_reply = |m: &Value| m["reply_parameters"]["message_id"].as_i64().is_some();
    wait_until("a reply to every link", || {
        tg.sent().iter().filter(|m| is_link_reply(m)).count() >= USERS as usize
    })
    .await;

    // Each instance took its share, and the ten redeliveries were dropped as repeats
    // wherever they landed (the handled count is taken after the dedupe).
    let mut handled = Vec::new();
    let mut repeats = 0;
    for to in &addrs {
        let m = scrape(&http, *to).await;
        handled.push(metric(&m, "dlb_updates_handled_total{kind=\"message\"}"));
        repeats += metric(&m, "dlb_updates_duplicate_total");
    }
    eprintln!("updates handled per instance: {handled:?}, repeats dropped: {repeats}");
    assert!(handled.iter().all(|h| *h > 0), "{handled:?}");
    assert_eq!(handled.iter().sum::<u64>(), USERS);
    assert_eq!(repeats, USERS / 5);

    // Telegram now takes its time answering.
    tg.set_send_delay(SEND_DELAY);

    // Orders 1-20, then 21-40 while those are told: the poller reads them over two polls.
    upstream.add(1..=20);
    wait_until("the first orders told", || {
        let sent = tg.sent();
        (1..=20).filter(|n| told_new(&sent, *n) > 0).count() >= 5
    })
    .await;
    // From here Telegram answers slowly, so the instance killed has sends unanswered.
    tg.set_send_delay(SLOW_SEND);
    let slow_from = Instant::now();
    upstream.add(21..=40);
    wait_until("the second batch at Telegram", || {
        let sent = tg.sent();
        (21..=40).any(|n| told_new(&sent, n) > 0)
    })
    .await;

    // SIGKILL the poller's holder while messages it sent are at Telegram unanswered, at
    // least a second after its last orders request and well before its next: its last
    // window is stored, its next poll not begun, and a poller that started from its own
    // clock instead of the stored watermark would start later than the watermark says.
    let killed = wait_poller(&mut conn, &pids).await;
    let mid_cycle = || {
        let age = upstream.asked().last().map(|(at, _, _)| at.elapsed());
        age.is_some_and(|a| {
            a >= Duration::from_secs(1) && a + Duration::from_secs(2) <= POLL_INTERVAL
        })
    };
    wait_sending(&mut conn, &tg, killed, slow_from, &[], mid_cycle).await;
    let mut shares = vec![format!("before the kill: {}", sent_by(&http, &fleet).await)];
    let kill_unix = chrono::Utc::now().timestamp();
    let kill_start = Instant::now();
    fleet.get(killed).kill_9();
    let kill_end = Instant::now();
    let killed_at = tg.sent().len();

    // Orders dated before the kill that upstream lists only now, before any other instance
    // can hold the lapsed lease: 41-45 updated at the start of the window the stored
    // watermark calls for (the end of the dead poller's last window read, less the
    // overlap), 46-50 a second before the kill. Only a poller that goes on from the stored
    // watermark reads them; one starting from its own clock misses 41-45.
    let read_to = upstream
        .asked()
        .last()
        .expect("the poller polled")
        .2
        .clone();
    let read_to = parse_china_time(&read_to).expect("end_time is China time");
    let overlap = PollerSettings::new(POLL_INTERVAL).overlap.as_secs() as i64;
    let edge = china_time(read_to - overlap);
    upstream.add_dated(41..=45, &edge);
    upstream.add_dated(46..=50, &china_time(kill_unix - 1));
    let late_listed = Instant::now();

    // What the dead instance had on its way: claimed by it, not marked sent.
    let in_flight = claimed_by(&mut conn, killed).await;
    let watermark: i64 =
        sqlx::query_scalar::<_, String>("SELECT value FROM kv WHERE key = 'orders_watermark'")
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .parse()
            .unwrap();
    eprintln!(
        "in flight at the SIGKILL (claimed by the killed instance, not sent): {} {in_flight:?}",
        in_flight.len()
    );
    assert!(
        !in_flight.is_empty(),
        "the SIGKILL came when the instance had nothing on its way"
    );
    assert!(
        watermark <= read_to,
        "stored watermark {watermark} past the last window read ({read_to})"
    );

    // Another instance holds the poller within one poll interval of the kill.
    let survivors: Vec<u32> = fleet.alive().iter().map(|i| i.pid).collect();
    let (second_poller, takeover) = loop {
        if let Some(pid) = poller_pid(&mut conn).await {
            if survivors.contains(&pid) {
                break (pid, kill_start.elapsed());
            }
        }
        assert!(
            kill_start.elapsed() <= POLL_INTERVAL + TAKEOVER_SLACK,
            "no instance took the poller over within {POLL_INTERVAL:?} (+{TAKEOVER_SLACK:?}) of the kill"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!(
        "poller taken over {:.2} s after the kill",
        takeover.as_secs_f64()
    );
    assert_ne!(second_poller, killed);

    // The late orders are told; so are orders that appear after the kill.
    upstream.add(51..=70);
    wait_until(
        "orders dated before the kill, listed after it, told",
        || {
            let sent = tg.sent();
            (41..=50).all(|n| told_new(&sent, n) > 0)
        },
    )
    .await;
    let after_kill: Vec<(Instant, String, String)> = upstream
        .asked()
        .into_iter()
        .filter(|(at, _, _)| *at > kill_start)
        .collect();
    assert!(
        after_kill.iter().all(|(at, _, _)| *at > late_listed),
        "an orders request came before the late orders were listed: the test raced itself"
    );
    // The new poller's first window: from the stored watermark (less the overlap) to its
    // clock; starting from its clock (same overlap) it would have missed orders 41-45.
    let (_, first_start, first_end) = &after_kill[0];
    eprintln!(
        "dead poller read to {}, watermark {}, late orders dated {edge}; new poller's first window {first_start} – {first_end}",
        china_time(read_to),
        china_time(watermark)
    );
    let from_own_clock = parse_china_time(first_end).unwrap() - overlap;
    assert!(
        from_own_clock > read_to - overlap,
        "the new poller's clock ({first_end}) is not past the dead poller's last window"
    );

    // SIGTERM the new holder while messages it sent are at Telegram unanswered: it waits
    // for their answers, marks them, releases what it had not sent, and exits 0. Orders
    // the dead instance had on its way are left out (another instance may resend them).
    let stopped = second_poller;
    shares.push(format!(
        "before the SIGTERM: {}",
        sent_by(&http, &fleet).await
    ));
    // Read right before the signal: what it had claimed at the SIGTERM.
    let term_claimed = wait_sending(&mut conn, &tg, stopped, kill_end, &in_flight, || true).await;
    let term_at = Instant::now();
    fleet.get(stopped).sigterm();
    let status = fleet.get(stopped).wait_exit().await;
    assert!(status.success(), "SIGTERM exit: {status:?}");
    // In flight at the SIGTERM: claimed and at Telegram; each was answered and marked by
    // the stopping instance itself (nothing waits for a claim to lapse).
    let term_in_flight: Vec<usize> = term_claimed
        .iter()
        .copied()
        .filter(|n| !in_flight.contains(n))
        .filter(|n| arrivals(&tg, *n).iter().any(|at| *at <= term_at))
        .collect();
    assert!(
        !term_in_flight.is_empty(),
        "the SIGTERM came when the instance had nothing at Telegram (claimed {term_claimed:?})"
    );
    assert_eq!(
        claims_left(&mut conn, stopped).await,
        0,
        "the SIGTERMed instance left claims behind"
    );
    let marked = marked_sent(&mut conn).await;
    let unmarked: Vec<&usize> = term_in_flight
        .iter()
        .filter(|n| !marked.contains(n))
        .collect();
    assert!(
        unmarked.is_empty(),
        "sent before the SIGTERM but not marked when the instance exited: {unmarked:?}"
    );
    tg.set_send_delay(SEND_DELAY);

    // The last instance takes the poller over and tells the last orders.
    upstream.add(71..=ORDERS);
    let last: Vec<u32> = fleet.alive().iter().map(|i| i.pid).collect();
    assert_eq!(last.len(), 1);
    let third_poller = wait_poller(&mut conn, &last).await;
    wait_until("every order told", || {
        let sent = tg.sent();
        (1..=ORDERS).all(|n| told_new(&sent, n) > 0)
    })
    .await;
    // Every message marked sent (the dead instance's claims lapsed and were taken): from
    // here on nothing more is sent.
    let deadline = Instant::now() + WAIT;
    loop {
        let counts = outbox(&mut conn).await;
        if counts.get("sent") == Some(&(ORDERS as i64)) && counts.len() == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "outbox never settled: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shares.push(format!("at the end: {}", sent_by(&http, &fleet).await));
    let last_one = fleet.get(third_poller);
    last_one.sigterm();
    let status = last_one.wait_exit().await;
    assert!(
        status.success(),
        "SIGTERM exit of the last instance: {status:?}"
    );
    // Whatever SIGKILLed or SIGTERMed, no instance is left.
    assert!(fleet.alive().is_empty());

    // One reply per link, one conversion per user: no update handled twice.
    let sent = tg.sent();
    for n in 1..=USERS {
        let replies: Vec<&Value> = sent
            .iter()
            .filter(|m| m["reply_parameters"]["message_id"] == link_message(n))
            .collect();
        assert_eq!(replies.len(), 1, "user {n}: {replies:#?}");
        assert_eq!(replies[0]["chat_id"], user_id(n));
        assert!(text(replies[0]).contains(&format!("<code>{PASSWORD}</code>")));
    }
    let calls = share_calls(&veapi).await;
    assert_eq!(calls.len(), USERS as usize, "kol_ProductShare calls");
    let mut tracked: Vec<String> = calls.iter().map(|c| c["external_info"].clone()).collect();
    tracked.sort();
    let mut expected: Vec<String> = (1..=USERS).map(|n| tracking::encode(user_id(n))).collect();
    expected.sort();
    assert_eq!(
        tracked, expected,
        "each user's link converted once, for them"
    );

    // Every order told to its user; repeats only of what the killed instance had on its way.
    let mut repeated = Vec::new();
    for n in 1..=ORDERS {
        let told: Vec<&Value> = sent.iter().filter(|m| order_of(m) == Some(n)).collect();
        assert!(!told.is_empty(), "order {n} never told");
        let user = user_id((n as u64 - 1) % USERS + 1);
        assert!(
            told.iter().all(|m| m["chat_id"] == user),
            "order {n}: {told:#?}"
        );
        assert!(told.iter().all(|m| text(m).contains("新订单")));
        if told.len() > 1 {
            assert_eq!(told.len(), 2, "order {n} told {} times", told.len());
            repeated.push(n);
        }
    }
    let notifications = sent.iter().filter(|m| order_of(m).is_some()).count();
    // Of those, the ones Telegram had received before the kill were never answered to the
    // dead instance (answers take SLOW_SEND): they are the repeats to expect.
    let at_telegram: Vec<usize> = in_flight
        .iter()
        .copied()
        .filter(|n| arrivals(&tg, *n).iter().any(|at| *at < kill_start))
        .collect();
    eprintln!(
        "notifications sent by each live instance {}",
        shares.join(", ")
    );
    eprintln!(
        "in flight at the SIGKILL: {} {in_flight:?}, of which at Telegram before it {at_telegram:?}; \
         repeated: {} {repeated:?}; in flight at the SIGTERM: claimed {term_claimed:?}, at Telegram \
         {term_in_flight:?}; notifications {notifications}, sendMessage total {}, at the kill \
         {killed_at}; pollers: {first_poller} (killed {killed}) -> {second_poller} (SIGTERM) -> \
         {third_poller}; {:.1} s",
        in_flight.len(),
        repeated.len(),
        sent.len(),
        started.elapsed().as_secs_f64()
    );
    for n in &repeated {
        assert!(
            in_flight.contains(n),
            "order {n} repeated but the killed instance did not have it on its way ({in_flight:?})"
        );
    }
    // Nothing the SIGTERMed instance had claimed was told twice, but what it took over
    // from the dead one.
    for n in term_claimed.iter().filter(|n| !in_flight.contains(n)) {
        assert!(
            !repeated.contains(n),
            "order {n}, on its way at the SIGTERM, told twice"
        );
    }
    assert_eq!(notifications, ORDERS + repeated.len());
    // The poller went from the killed instance to another, then to the last one.
    assert_ne!(third_poller, killed);
    assert_ne!(third_poller, stopped);
}
