//! Several instances on one store, in one process: notifiers that claim (each message
//! delivered once, each user's in order) and pollers that take turns by lease (one polls;
//! when it dies another takes over within a poll interval). Both backends; the real
//! multi-process run is in tests/instances_e2e.rs.

mod support;

use douyin_link_bot::lease::{self, Lease};
use douyin_link_bot::notify::{Messenger, Notifier, NotifierSettings};
use douyin_link_bot::poller::{Poller, PollerSettings};
use douyin_link_bot::secret::Secret;
use douyin_link_bot::store::{Notice, Store};
use douyin_link_bot::telegram;
use douyin_link_bot::tracking;
use douyin_link_bot::veapi::{OrderSource, VeapiClient};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;
use tokio::sync::{watch, Notify};
use wiremock::MockServer;

fn notifier(store: Store, tg: &FakeTelegram, owner: &str) -> Notifier {
    notifier_claiming(store, tg, owner, NotifierSettings::default().claim)
}

fn notifier_claiming(store: Store, tg: &FakeTelegram, owner: &str, claim: Duration) -> Notifier {
    let bot = telegram::bot(&Secret::new(BOT_TOKEN), tg.server.uri().parse().unwrap()).unwrap();
    let messenger: Arc<dyn Messenger> = Arc::new(telegram::Telegram::new(bot));
    Notifier::new(
        store,
        messenger,
        Arc::new(Notify::new()),
        NotifierSettings {
            idle_poll: Duration::from_millis(20),
            claim,
            ..NotifierSettings::default()
        },
    )
    .with_owner(owner)
}

on_both_backends! {
    /// A send that takes longer than the claim: the owner renews its claim while it lasts,
    /// so the other instance never takes the message (without the renewal it would, after
    /// three seconds, and send it a second time). Claims are whole seconds of the database's
    /// clock, renewed every third of their length: 3 s leaves a second to spare.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_send_longer_than_its_claim_keeps_it(db) {
        let tg = FakeTelegram::start().await;
        tg.set_send_delay(Duration::from_secs(7));
        let setup = Store::open(db.url()).await.unwrap();
        for user in 1..=3u64 {
            let notice = Notice::text(format!("k{user}"), format!("k{user}"));
            setup.enqueue_private(&notice, user, 0).await.unwrap();
        }
        let (stop, shutdown) = watch::channel(false);
        let claim = Duration::from_secs(3);
        let a = tokio::spawn(
            notifier_claiming(Store::open(db.url()).await.unwrap(), &tg, "A", claim).run(shutdown.clone()),
        );
        tg.wait_sent(3).await;
        // A has all three in flight, each for 7 s against a 3 s claim; B starts now.
        let b = tokio::spawn(
            notifier_claiming(Store::open(db.url()).await.unwrap(), &tg, "B", claim).run(shutdown.clone()),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while setup.outbox_counts().await.unwrap().sent < 3 {
            assert!(Instant::now() < deadline, "never marked");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.send(true).unwrap();
        a.await.unwrap();
        b.await.unwrap();
        assert_eq!(tg.send_attempts(), 3, "each message sent once: {:#?}", tg.sent());
    }
}

on_both_backends! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn three_notifiers_deliver_each_message_once_and_each_users_in_order(db) {
        let tg = FakeTelegram::start().await;
        let setup = Store::open(db.url()).await.unwrap();
        // 30 users, 3 messages each, written in order.
        for n in 0..3 {
            for user in 1..=30u64 {
                let notice = Notice::text(format!("{user}-{n}"), format!("{user}-{n}"));
                setup.enqueue_private(&notice, user, 0).await.unwrap();
            }
        }
        let (stop, shutdown) = watch::channel(false);
        let mut tasks = Vec::new();
        for owner in ["A", "B", "C"] {
            // Each instance has its own connections, as separate processes would.
            let store = Store::open(db.url()).await.unwrap();
            tasks.push(tokio::spawn(notifier(store, &tg, owner).run(shutdown.clone())));
        }
        tg.wait_sent(90).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let c = setup.outbox_counts().await.unwrap();
            if c.sent == 90 {
                break;
            }
            assert!(Instant::now() < deadline, "{c:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.send(true).unwrap();
        for t in tasks {
            t.await.unwrap();
        }
        let sent: Vec<String> = tg.sent().iter().map(|m| m["text"].as_str().unwrap().to_string()).collect();
        assert_eq!(sent.len(), 90, "each message once: {sent:?}");
        let mut per_user: HashMap<&str, Vec<&str>> = HashMap::new();
        for t in &sent {
            let (user, n) = t.split_once('-').unwrap();
            per_user.entry(user).or_default().push(n);
        }
        for (user, ns) in per_user {
            assert_eq!(ns, ["0", "1", "2"], "user {user}'s messages in order");
        }
    }
}

async fn poller(store: Store, veapi: &MockServer, lease: Lease) -> Poller {
    let tg = FakeTelegram::start().await;
    let cfg = config(&tg, veapi, &TestDb::sqlite()).veapi.unwrap();
    let source: Arc<dyn OrderSource> = Arc::new(VeapiClient::new(&cfg).unwrap());
    Poller::new(
        source,
        store,
        PollerSettings {
            page_retries: 0,
            ..PollerSettings::new(Duration::from_secs(4))
        },
        None,
        Arc::new(Notify::new()),
    )
    .with_lease(lease)
}

async fn orders_calls_now(server: &MockServer) -> usize {
    orders_calls(server).await.len()
}

on_both_backends! {
    /// A and B poll the same store through different upstream fakes (to tell their calls
    /// apart): only the lease holder polls; when it dies without a word (its tasks
    /// aborted, nothing released) the other polls within one poll interval.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn one_poller_at_a_time_and_a_takeover_within_one_interval(db) {
        let alice = tracking::encode(ALICE.user_id);
        let (veapi_a, veapi_b) = (MockServer::start().await, MockServer::start().await);
        for v in [&veapi_a, &veapi_b] {
            let now = douyin_link_bot::poller::china_time(chrono::Utc::now().timestamp());
            orders_page(v, None, orders_body(vec![order_json("5001", &alice, "PAY_SUCC", &now)], "")).await;
        }
        let (stop, shutdown) = watch::channel(false);
        let store_a = Store::open(db.url()).await.unwrap();
        let (lease_a, lease_task_a) = Lease::spawn(store_a.clone(), lease::POLLER, "A".into(), Duration::from_secs(2), shutdown.clone());
        let poller_a = tokio::spawn(poller(store_a.clone(), &veapi_a, lease_a).await.run(shutdown.clone()));
        // A holds the lease before B starts.
        let deadline = Instant::now() + Duration::from_secs(10);
        while orders_calls_now(&veapi_a).await == 0 {
            assert!(Instant::now() < deadline, "A never polled");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let store_b = Store::open(db.url()).await.unwrap();
        let (lease_b, _lease_task_b) = Lease::spawn(store_b.clone(), lease::POLLER, "B".into(), Duration::from_secs(2), shutdown.clone());
        let poller_b = tokio::spawn(poller(store_b.clone(), &veapi_b, lease_b).await.run(shutdown.clone()));

        // Two polls of A (8 s): B stands by.
        let watch_until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < watch_until {
            assert_eq!(orders_calls_now(&veapi_b).await, 0, "B polled while A held the lease");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(orders_calls_now(&veapi_a).await >= 2, "A polls every interval");
        assert_eq!(store_b.lease_holder(lease::POLLER, chrono::Utc::now().timestamp()).await.unwrap().map(|h| h.0).as_deref(), Some("A"));

        // A dies: no release, no goodbye.
        lease_task_a.abort();
        poller_a.abort();
        let died = Instant::now();
        let a_calls = orders_calls_now(&veapi_a).await;
        while orders_calls_now(&veapi_b).await == 0 {
            assert!(died.elapsed() < Duration::from_secs(4), "no takeover within one poll interval");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(orders_calls_now(&veapi_a).await, a_calls, "A is gone");
        // The order was stored once and its message enqueued once, whoever read it.
        let c = store_b.outbox_counts().await.unwrap();
        assert_eq!(c.pending + c.sent, 1, "{c:?}");
        stop.send(true).unwrap();
        poller_b.await.unwrap();
    }
}

on_both_backends! {
    /// The bot's 30 a second is shared: each instance's presence counts the live ones (what
    /// its pace divides the limit by), and is gone once the instance stops.
    #[tokio::test]
    async fn presence_counts_the_live_instances(db) {
        let store = Store::open(db.url()).await.unwrap();
        let (other, other_id) = ("instance:other-host:1:0", "other-host:1:0");
        let now = store.clock().await.unwrap();
        assert!(store.lease_acquire(other, other_id, now, now + 60).await.unwrap());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (stop, shutdown) = watch::channel(false);
        let task = douyin_link_bot::instance::spawn_presence(
            store.clone(),
            move |n| {
                let _ = tx.send(n);
            },
            shutdown,
        );
        assert_eq!(tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap(), Some(2), "this instance and the other");
        // The other one leaves: this one takes the whole limit again.
        store.lease_release(other, other_id).await.unwrap();
        while tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap() != Some(1) {}
        stop.send(true).unwrap();
        task.await.unwrap();
        let now = store.clock().await.unwrap();
        assert_eq!(store.leases_held("instance:", now).await.unwrap(), 0, "presence removed at stop");
    }
}

on_both_backends! {
    /// Stopping releases the poller's lease at once (another instance takes over without
    /// waiting for it to lapse: here it would take a minute).
    #[tokio::test]
    async fn stopping_releases_the_poller_lease_at_once(db) {
        let store = Store::open(db.url()).await.unwrap();
        let (stop, shutdown) = watch::channel(false);
        let (mut lease, task) =
            Lease::spawn(store.clone(), lease::POLLER, "A".into(), Duration::from_secs(60), shutdown);
        tokio::time::timeout(Duration::from_secs(10), lease.acquired()).await.unwrap();
        let now = store.clock().await.unwrap();
        assert_eq!(store.lease_holder(lease::POLLER, now).await.unwrap().map(|h| h.0).as_deref(), Some("A"));
        stop.send(true).unwrap();
        task.await.unwrap();
        assert!(!lease.is_held());
        let now = store.clock().await.unwrap();
        assert_eq!(store.lease_holder(lease::POLLER, now).await.unwrap(), None);
        assert!(store.lease_acquire(lease::POLLER, "B", now, now + 60).await.unwrap());
    }
}
