//! The store's operations, each with one meaning on SQLite and PostgreSQL: every test here
//! runs on both ([`on_both_backends!`]).

mod support;

use douyin_link_bot::store::{Engine, Notice, OutboxRow, RowRef, Store};
use std::collections::HashSet;
use support::TestDb;

async fn store_with(db: &TestDb, rows: &[(&str, u64)]) -> Store {
    let store = Store::open(db.url()).await.unwrap();
    for (key, user) in rows {
        let notice = Notice::text(*key, *key);
        store.enqueue_private(&notice, *user, 0).await.unwrap();
    }
    store
}

/// A row's finished text (these tests enqueue text only).
fn text(row: &OutboxRow) -> &str {
    match &row.event {
        Some(douyin_link_bot::events::Event::Text { html }) => html,
        other => panic!("not a text row: {other:?}"),
    }
}

fn keys(rows: &[OutboxRow]) -> Vec<&str> {
    rows.iter().map(text).collect()
}

on_both_backends! {
    #[tokio::test]
    async fn opens_the_backend_its_url_names(db) {
        let store = Store::open(db.url()).await.unwrap();
        let engine = if db.is_postgres() { Engine::Postgres } else { Engine::Sqlite };
        assert_eq!(store.engine(), engine);
        store.ping().await.unwrap();
        store.close().await;
        // Opening again runs the migrations again without harm.
        let store = Store::open(db.url()).await.unwrap();
        store.ping().await.unwrap();
    }
}

on_both_backends! {
    #[tokio::test]
    async fn each_user_has_only_their_earliest_message_due(db) {
        let store = store_with(&db, &[("a1", 1), ("a2", 1), ("b1", 2), ("a3", 1)]).await;
        let due = store.due_outbox(0, 10).await.unwrap();
        assert_eq!(keys(&due), ["a1", "b1"]);
        // a1 waits for a retry: nothing of user 1 is due, not even a2.
        store.reschedule(due[0].id, 60, "later", true).await.unwrap();
        assert_eq!(keys(&store.due_outbox(0, 10).await.unwrap()), ["b1"]);
        assert_eq!(store.next_due_at(&HashSet::new()).await.unwrap(), Some(0));
        assert_eq!(store.next_due_at(&HashSet::from([2])).await.unwrap(), Some(60));
        // Sent: the next one is due.
        store.mark_sent(due[0].id, 1, 0).await.unwrap();
        assert_eq!(keys(&store.due_outbox(0, 10).await.unwrap()), ["a2", "b1"]);
        // Given up on: it holds nothing back.
        let a2 = store.due_outbox(0, 10).await.unwrap().remove(0);
        store.park(a2.id, "broken").await.unwrap();
        assert_eq!(keys(&store.due_outbox(0, 10).await.unwrap()), ["b1", "a3"]);
        let counts = store.outbox_counts().await.unwrap();
        assert_eq!((counts.pending, counts.sent, counts.parked), (2, 1, 1));
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_held_message_holds_later_ones_and_is_tried_first_when_one_falls_due(db) {
        let store = store_with(&db, &[("a1", 1), ("a2", 1)]).await;
        let a1 = store.due_outbox(0, 10).await.unwrap().remove(0);
        store.hold(a1.id, "blocked", Some((-100, 0)), 0).await.unwrap();
        assert!(store.due_outbox(0, 10).await.unwrap().is_empty());
        assert_eq!(store.outbox_counts().await.unwrap().parked, 2, "a2 held too");
        assert_eq!(store.next_due_at(&HashSet::new()).await.unwrap(), None);
        assert!(store.told_since(1, -100, 0).await.unwrap());
        assert!(!store.told_since(1, -100, 1).await.unwrap());

        let notice = Notice::text("a3", "a3");
        store.enqueue_private(&notice, 1, 5).await.unwrap();
        assert_eq!(store.next_due_at(&HashSet::new()).await.unwrap(), Some(5));
        assert!(store.due_outbox(4, 10).await.unwrap().is_empty());
        let due = store.due_outbox(5, 10).await.unwrap();
        assert_eq!(keys(&due), ["a1"]);
        assert!(due[0].held);

        assert_eq!(store.release_held(1, 6).await.unwrap(), 2, "a3 was never held");
        let a1 = store.due_outbox(6, 10).await.unwrap().remove(0);
        assert_eq!((text(&a1), a1.held), ("a1", false));
        store.mark_sent(a1.id, 1, 6).await.unwrap();
        assert_eq!(keys(&store.due_outbox(6, 10).await.unwrap()), ["a2"]);
        assert_eq!(keys(&store.pending_for(1).await.unwrap()), ["a2", "a3"]);
    }
}

on_both_backends! {
    /// The race: the send goes out, /start arrives and releases nothing, then the send's
    /// "never started" answer comes back. That answer is stale: the message is due again.
    #[tokio::test]
    async fn a_refusal_older_than_the_users_start_does_not_hold(db) {
        let store = store_with(&db, &[("a1", 1)]).await;
        let a1 = store.due_outbox(0, 10).await.unwrap().remove(0);
        assert_eq!(store.release_held(1, 100).await.unwrap(), 0);
        store.hold(a1.id, "never started", None, 99).await.unwrap();
        assert_eq!(keys(&store.due_outbox(100, 10).await.unwrap()), ["a1"]);
        store.hold(a1.id, "blocked", None, 101).await.unwrap();
        assert!(store.due_outbox(200, 10).await.unwrap().is_empty());
        assert_eq!(store.outbox_counts().await.unwrap().parked, 1);
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_claimed_message_is_nobody_elses_until_settled_or_lapsed(db) {
        let store = store_with(&db, &[("a1", 1), ("a2", 1), ("b1", 2)]).await;
        let (a, b) = (store.with_owner("A"), store.with_owner("B"));
        let mine = a.claim_due(0, 10, 30).await.unwrap();
        assert_eq!(keys(&mine), ["a1", "b1"]);
        // Another instance finds nothing: each user's head is claimed.
        assert!(b.claim_due(1, 10, 31).await.unwrap().is_empty());
        assert!(store.due_outbox(1, 10).await.unwrap().is_empty());
        // Nothing due before the claims lapse (no busy loop on someone else's claim).
        assert_eq!(store.next_due_at(&HashSet::new()).await.unwrap(), Some(30));
        // Settled: the user's next message is free for anyone.
        a.mark_sent(mine[0].id, 1, 2).await.unwrap();
        assert_eq!(keys(&b.claim_due(2, 10, 32).await.unwrap()), ["a2"]);
        // A released claim is free at once; a lapsed one after its moment.
        a.release_claim(&mine[1]).await.unwrap();
        assert_eq!(keys(&b.claim_due(3, 10, 33).await.unwrap()), ["b1"]);
        assert!(a.claim_due(31, 10, 60).await.unwrap().is_empty());
        assert_eq!(keys(&a.claim_due(33, 10, 60).await.unwrap()), ["a2", "b1"]);
        // Renewed while being sent: not lapsed at 60.
        let a2 = store.pending_for(1).await.unwrap().remove(0);
        assert!(a2.claim.as_deref().is_some_and(|c| c.starts_with("A#")), "{a2:?}");
        assert!(a.renew_claim(&a2, 90).await.unwrap());
        let other = RowRef { id: a2.id, claim: Some("B#0") };
        assert!(!b.renew_claim(other, 90).await.unwrap(), "not B's claim");
        assert!(b.claim_due(60, 10, 120).await.unwrap().iter().all(|r| r.id != a2.id));
    }
}

on_both_backends! {
    /// An instance whose claim lapsed while it was sending (and another took the message)
    /// must not overwrite what the other recorded: a sent message stays sent.
    #[tokio::test]
    async fn a_lapsed_owner_cannot_undo_the_new_owners_outcome(db) {
        let store = store_with(&db, &[("a1", 1), ("a2", 1)]).await;
        let (a, b) = (store.with_owner("A"), store.with_owner("B"));
        let a1 = a.claim_due(0, 10, 10).await.unwrap().remove(0);
        // A's claim lapses; B takes the message.
        let again = b.claim_due(10, 10, 40).await.unwrap().remove(0);
        assert_eq!(again.id, a1.id);
        // A's late failure is not recorded over B's claim...
        a.reschedule(&a1, 100, "late failure", true).await.unwrap();
        a.park(&a1, "late park").await.unwrap();
        a.hold(&a1, "late hold", None, 11).await.unwrap();
        assert_eq!(store.outbox_status("a1").await.unwrap().unwrap().0, "pending");
        // ... nor over a claim A itself took again since (a new claim, a new token)...
        b.release_claim(&again).await.unwrap();
        let third = a.claim_due(11, 10, 40).await.unwrap().remove(0);
        assert_eq!(third.id, a1.id);
        a.park(&a1, "late park under the old claim").await.unwrap();
        assert_eq!(store.outbox_status("a1").await.unwrap().unwrap().0, "pending");
        a.release_claim(&third).await.unwrap();
        // ... B's delivery is, and a late outcome of A after it changes nothing.
        b.mark_sent(a1.id, 1, 12).await.unwrap();
        a.reschedule(&a1, 100, "late failure", true).await.unwrap();
        a.park(&a1, "late park").await.unwrap();
        assert_eq!(store.outbox_status("a1").await.unwrap().unwrap().0, "sent");
        assert_eq!(keys(&store.due_outbox(13, 10).await.unwrap()), ["a2"]);
    }
}

on_both_backends! {
    /// Instances claiming at the same moment never get the same message.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn claims_made_at_once_never_overlap(db) {
        let rows: Vec<(String, u64)> = (0..200).map(|u| (format!("m{u}"), u)).collect();
        let rows: Vec<(&str, u64)> = rows.iter().map(|(k, u)| (k.as_str(), *u)).collect();
        let store = store_with(&db, &rows).await;
        let claimers = (0..4).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let rows = store.with_owner(&format!("i{i}")).claim_due(0, 7, 100).await.unwrap();
                    if rows.is_empty() {
                        break got;
                    }
                    got.extend(rows.into_iter().map(|r| r.id));
                }
            })
        });
        let mut all = Vec::new();
        for c in claimers {
            all.extend(c.await.unwrap());
        }
        let distinct: HashSet<i64> = all.iter().copied().collect();
        assert_eq!((all.len(), distinct.len()), (200, 200));
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_lease_has_one_holder_until_it_lapses_or_is_released(db) {
        let store = Store::open(db.url()).await.unwrap();
        assert!(store.lease_acquire("poller", "A", 0, 10).await.unwrap());
        assert!(!store.lease_acquire("poller", "B", 5, 15).await.unwrap());
        assert!(store.lease_acquire("poller", "A", 5, 15).await.unwrap(), "renewed");
        assert_eq!(store.lease_holder("poller", 6).await.unwrap(), Some(("A".into(), 15)));
        assert!(!store.lease_acquire("poller", "B", 14, 24).await.unwrap());
        assert!(store.lease_acquire("poller", "B", 15, 25).await.unwrap(), "lapsed");
        store.lease_release("poller", "A").await.unwrap();
        assert_eq!(store.lease_holder("poller", 16).await.unwrap(), Some(("B".into(), 25)));
        store.lease_release("poller", "B").await.unwrap();
        assert_eq!(store.lease_holder("poller", 16).await.unwrap(), None);
        assert!(store.lease_acquire("poller", "A", 16, 26).await.unwrap());
    }
}

on_both_backends! {
    #[tokio::test]
    async fn kv_and_chat_moves_round_trip(db) {
        let store = Store::open(db.url()).await.unwrap();
        assert_eq!(store.kv_get("w").await.unwrap(), None);
        store.kv_set("w", "1", 0).await.unwrap();
        store.kv_set("w", "2", 1).await.unwrap();
        assert_eq!(store.kv_get("w").await.unwrap().as_deref(), Some("2"));
        store.kv_delete("w").await.unwrap();
        assert_eq!(store.kv_get("w").await.unwrap(), None);
        store.migrate_chat(-1, -1001).await.unwrap();
        store.migrate_chat(-2, -1002).await.unwrap();
        let moves: HashSet<(i64, i64)> = store.chat_migrations().await.unwrap().into_iter().collect();
        assert_eq!(moves, HashSet::from([(-1, -1001), (-2, -1002)]));
        assert_eq!(store.earliest_conversion_at().await.unwrap(), None);
        let stats = store.stats(0).await.unwrap();
        assert_eq!((stats.users, stats.conversions, stats.orders.orders), (0, 0, 0));
    }
}

on_both_backends! {
    /// A rolling deploy or a rollback: an older version starts against a store that a
    /// newer one migrated further.
    #[tokio::test]
    async fn a_store_migrated_by_a_newer_version_still_opens(db) {
        use sqlx::Connection;
        Store::open(db.url()).await.unwrap().close().await;
        let newer = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
                     VALUES (9999, 'from a newer version', $1, $2, 0)";
        if db.is_postgres() {
            let mut c = sqlx::PgConnection::connect(db.url()).await.unwrap();
            sqlx::query(newer).bind(true).bind(vec![0u8; 48]).execute(&mut c).await.unwrap();
        } else {
            let mut c = sqlx::SqliteConnection::connect(db.url()).await.unwrap();
            sqlx::query(newer).bind(true).bind(vec![0u8; 48]).execute(&mut c).await.unwrap();
        }
        let store = Store::open(db.url()).await.unwrap();
        store.ping().await.unwrap();
    }
}

on_both_backends! {
    /// A held message delivered privately after all (its retry, or a send whose claim
    /// lapsed and that arrived anyway): the user is reachable, so the messages held behind
    /// it are due again instead of waiting for a /start.
    #[tokio::test]
    async fn a_private_delivery_releases_the_users_held_messages(db) {
        let store = store_with(&db, &[("a1", 1), ("a2", 1), ("b1", 2)]).await;
        let a1 = store.due_outbox(0, 10).await.unwrap().remove(0);
        store.hold(a1.id, "blocked", None, 0).await.unwrap();
        assert_eq!(keys(&store.due_outbox(1, 10).await.unwrap()), ["b1"]);
        // Another user's delivery changes nothing for user 1.
        let b1 = store.due_outbox(1, 10).await.unwrap().remove(0);
        store.mark_sent(b1.id, -100, 1).await.unwrap();
        store.mark_sent(a1.id, 1, 2).await.unwrap();
        assert_eq!(keys(&store.due_outbox(2, 10).await.unwrap()), ["a2"]);
        assert_eq!(store.outbox_counts().await.unwrap().parked, 0);
    }
}

on_both_backends! {
    /// `/lang` outlasts the app's language; without a choice the app's language as last seen
    /// is kept (order news is rendered in it later).
    #[tokio::test]
    async fn a_chosen_language_outlasts_the_apps(db) {
        use douyin_link_bot::lang::Lang;
        let store = Store::open(db.url()).await.unwrap();
        assert_eq!(store.user_lang(7).await.unwrap(), None);
        assert_eq!(store.note_app_lang(7, Lang::En, 1).await.unwrap(), Lang::En);
        assert_eq!(store.user_lang(7).await.unwrap(), Some(Lang::En));
        assert_eq!(store.chosen_lang(7).await.unwrap(), None);
        assert_eq!(store.note_app_lang(7, Lang::Zh, 2).await.unwrap(), Lang::Zh);
        store.choose_lang(7, Lang::En, 3).await.unwrap();
        assert_eq!(store.note_app_lang(7, Lang::Zh, 4).await.unwrap(), Lang::En);
        assert_eq!(store.user_lang(7).await.unwrap(), Some(Lang::En));
        assert_eq!(store.chosen_lang(7).await.unwrap(), Some(Lang::En));
        assert_eq!(store.user_lang(8).await.unwrap(), None);
    }
}

/// A PostgreSQL test that ends while a task it aborted still holds a transaction on its
/// schema (the task's cancellation waits for the runtime, which is busy dropping the
/// schema) must still end: the schema's connections are ended before it is dropped.
#[test]
fn a_test_that_leaves_a_transaction_open_still_ends() {
    if std::env::var("TEST_DATABASE_URL").is_err() {
        return;
    }
    let (done, ended) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let db = TestDb::postgres().await.unwrap();
                let store = Store::open(db.url()).await.unwrap();
                store.kv_set("k", "v", 0).await.unwrap();
                let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
                let mut tx = pool.begin().await.unwrap();
                sqlx::query("SELECT value FROM kv FOR UPDATE")
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                // The transaction stays open while the schema is dropped.
                let held = tokio::spawn(async move {
                    let _tx = tx;
                    std::future::pending::<()>().await
                });
                drop(db);
                held.abort();
            });
        let _ = done.send(());
    });
    ended
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("dropping the schema waited on the open transaction");
}
