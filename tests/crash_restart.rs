//! The built binary killed with SIGKILL (no graceful stop, no flush) and restarted on the
//! same store: no notification is lost, and only the one message in flight at the moment of
//! the kill may arrive twice. Stopped with SIGTERM instead, it repeats nothing.

mod support;

use douyin_link_bot::poller::china_time;
use douyin_link_bot::store::Store;
use douyin_link_bot::tracking;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;
use wiremock::MockServer;

const BIN: &str = env!("CARGO_BIN_EXE_douyin-link-bot");

/// The binary, run in `dir` (an empty folder: no stray `.env`) on the store `db`.
/// The bot's process, killed when dropped: a failing test leaves no bot running.
struct Bot(Child);

impl std::ops::Deref for Bot {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Bot {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(dir: &Path, db: &TestDb, tg: &FakeTelegram, veapi: &MockServer) -> Bot {
    Command::new(BIN)
        .current_dir(dir)
        .env_clear()
        .env("DATABASE_URL", db.url())
        .env("TELEGRAM_BOT_TOKEN", BOT_TOKEN)
        .env("TELEGRAM_API_URL", tg.server.uri())
        .env("VEAPI_KEY", VEKEY)
        .env("VEAPI_BASE_URL", veapi.uri())
        .env("ORDER_POLL_INTERVAL_SECS", "5")
        // A killed instance's claim on the message it was sending lapses after this (others
        // may be alive on PostgreSQL; a restart on SQLite finds it like any other).
        .env("OUTBOX_CLAIM_SECS", "5")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Bot)
        .unwrap()
}

/// SIGKILL: the process gets no chance to finish anything.
fn kill_9(mut bot: Bot) {
    bot.kill().unwrap();
    bot.wait().unwrap();
}

fn now_in_china() -> String {
    china_time(chrono::Utc::now().timestamp())
}

/// Orders upstream reports from now on, all bought through Alice's link.
async fn upstream_orders(veapi: &MockServer, orders: &[(&str, &str)]) {
    let alice = tracking::encode(ALICE.user_id);
    let now = now_in_china();
    let orders = orders
        .iter()
        .map(|(id, state)| order_json(id, &alice, state, &now))
        .collect();
    veapi.reset().await;
    orders_page(veapi, None, orders_body(orders, "")).await;
}

/// How many messages told of `order` in a message containing `word`.
fn told(tg: &FakeTelegram, order: &str, word: &str) -> usize {
    tg.sent()
        .iter()
        .filter(|m| {
            let t = m["text"].as_str().unwrap_or_default();
            t.contains(order) && t.contains(word)
        })
        .count()
}

async fn wait_told(tg: &FakeTelegram, order: &str, word: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while told(tg, order, word) == 0 {
        assert!(
            Instant::now() < deadline,
            "{order} {word} never told: {:#?}",
            tg.sent()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the bot's store `db` has marked `n` messages sent and has none pending: past
/// that point a kill can repeat nothing.
async fn wait_marked(db: &TestDb, n: i64) {
    let store = Store::open(db.url()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let c = store.outbox_counts().await.unwrap();
        if c.sent >= n && c.pending == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "never marked: {c:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    store.close().await;
}

on_both_backends! {
    #[tokio::test(flavor = "multi_thread")]
    async fn killed_between_polls_nothing_is_lost_and_nothing_repeated(db) {
        let tg = FakeTelegram::start().await;
        let veapi = MockServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        upstream_orders(&veapi, &[("1001", "PAY_SUCC")]).await;
        // Telegram takes its time to confirm: the message has arrived well before the bot hears
        // back and marks it. A kill after a fixed pause would land before the mark.
        tg.set_send_delay(Duration::from_millis(800));

        let bot = spawn(dir.path(), &db, &tg, &veapi);
        wait_told(&tg, "1001", "新订单").await;
        // Killed once the delivery is marked (the next poll is seconds away).
        wait_marked(&db, 1).await;
        kill_9(bot);
        tg.set_send_delay(Duration::ZERO);

        // While the bot is dead, order 1001 is refunded and 1002 is bought.
        upstream_orders(&veapi, &[("1001", "REFUND"), ("1002", "PAY_SUCC")]).await;
        let bot = spawn(dir.path(), &db, &tg, &veapi);
        wait_told(&tg, "1001", "订单已退款").await;
        wait_told(&tg, "1002", "新订单").await;
        wait_marked(&db, 3).await;
        kill_9(bot);

        assert_eq!(told(&tg, "1001", "新订单"), 1, "{:#?}", tg.sent());
        assert_eq!(told(&tg, "1001", "订单已退款"), 1);
        assert_eq!(told(&tg, "1002", "新订单"), 1);
        assert_eq!(tg.sent().len(), 3);
    }
}

on_both_backends! {
    #[tokio::test(flavor = "multi_thread")]
    async fn killed_while_sending_only_the_message_in_flight_may_repeat(db) {
        let tg = FakeTelegram::start().await;
        let veapi = MockServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        let orders = ["2001", "2002", "2003"];
        upstream_orders(&veapi, &orders.map(|o| (o, "PAY_SUCC"))).await;

        // Telegram takes the first notification but the bot is killed before hearing back.
        tg.set_send_delay(Duration::from_secs(10));
        let bot = spawn(dir.path(), &db, &tg, &veapi);
        let in_flight: Value = tg.wait_sent(1).await.remove(0);
        kill_9(bot);
        tg.set_send_delay(Duration::ZERO);

        let bot = spawn(dir.path(), &db, &tg, &veapi);
        for o in orders {
            wait_told(&tg, o, "新订单").await;
        }
        wait_marked(&db, orders.len() as i64).await;
        kill_9(bot);

        let sent = tg.sent();
        for o in orders {
            let n = told(&tg, o, "新订单");
            let was_in_flight = in_flight["text"].as_str().unwrap().contains(o);
            // The bot never heard that the one in flight arrived, so it sends it again after the
            // restart (at least once); every other message exactly once.
            let expected = if was_in_flight { 2 } else { 1 };
            assert_eq!(n, expected, "order {o} (in flight: {was_in_flight})");
        }
        assert_eq!(sent.len(), orders.len() + 1, "{sent:#?}");
    }
}

on_both_backends! {
    /// SIGTERM while Telegram holds a notification's answer: the bot waits for the answer,
    /// marks the message sent, then exits; after a restart it is not sent again.
    #[tokio::test(flavor = "multi_thread")]
    async fn sigterm_while_sending_waits_for_the_answer_and_repeats_nothing(db) {
        let tg = FakeTelegram::start().await;
        let veapi = MockServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        upstream_orders(&veapi, &[("3001", "PAY_SUCC")]).await;
        let hold = Duration::from_secs(3);
        tg.set_send_delay(hold);

        let mut bot = spawn(dir.path(), &db, &tg, &veapi);
        tg.wait_sent(1).await;
        let (_, arrived) = tg.sent_timed().remove(0);
        Command::new("kill")
            .args(["-TERM", &bot.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = bot.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let exited = Instant::now();
        assert!(status.success(), "{status:?}");
        assert!(
            exited >= arrived + hold,
            "exited {:?} after the request, before Telegram answered",
            exited - arrived
        );
        // The store shows it sent before anything restarts.
        let store = Store::open(db.url()).await.unwrap();
        let c = store.outbox_counts().await.unwrap();
        store.close().await;
        assert_eq!((c.sent, c.pending), (1, 0), "{c:?}");

        // Restarted, with a new order for the same user: that one is told, 3001 is not again.
        tg.set_send_delay(Duration::ZERO);
        upstream_orders(&veapi, &[("3001", "PAY_SUCC"), ("3002", "PAY_SUCC")]).await;
        let bot = spawn(dir.path(), &db, &tg, &veapi);
        wait_told(&tg, "3002", "新订单").await;
        wait_marked(&db, 2).await;
        kill_9(bot);
        assert_eq!(told(&tg, "3001", "新订单"), 1, "{:#?}", tg.sent());
        assert_eq!(tg.sent().len(), 2);
    }
}
