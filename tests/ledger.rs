//! The rebate ledger under what order polling really delivers: the same snapshot again,
//! snapshots out of order, pages cut anywhere, restarts between pages. Whatever the order of
//! delivery, each user's accruals and reversals add up to the percent of the commission of
//! their orders that ended settled (each rounded down to the fen), and no fact is written
//! twice.

mod support;

use douyin_link_bot::poller;
use douyin_link_bot::store::{LedgerEntry, LedgerKind, Store};
use douyin_link_bot::tracking;
use douyin_link_bot::veapi::Order;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};
use support::TestDb;

const USERS: [u64; 3] = [1001, 1002, 1003];

/// One snapshot of an order, as a veapi order page lists it (field names and fen amounts
/// as in `douyin/alliance_kol_orders`; see tests/fixtures and src/veapi/orders.rs).
fn snapshot(order_id: &str, user: u64, state: &str, step: usize, commission: i64) -> Order {
    // Commission is estimated until settlement; the settled (real) one comes with SETTLE
    // and stays on a refund after it.
    let real = if matches!(state, "SETTLE" | "REFUND") {
        commission
    } else {
        0
    };
    serde_json::from_value(serde_json::json!({
        "order_id": order_id, "product_id": "3583117383482622604", "product_name": "猫耳酥",
        "flow_point": state, "total_pay_amount": 2100, "estimated_commission": commission,
        "real_commission": real,
        "update_time": format!("2026-11-22 1{step}:00:00"),
        "pay_success_time": "2026-11-22 10:00:00",
        "pid_info": {"external_info": tracking::encode(user)}
    }))
    .unwrap()
}

/// The states an order goes through, in order: PAY_SUCC→[CONFIRM]→SETTLE→[REFUND], or
/// PAY_SUCC→REFUND.
fn path(confirm: bool, settle: bool, refund: bool) -> Vec<&'static str> {
    let mut p = vec!["PAY_SUCC"];
    if settle {
        if confirm {
            p.push("CONFIRM");
        }
        p.push("SETTLE");
        if refund {
            p.push("REFUND");
        }
    } else {
        p.push("REFUND");
    }
    p
}

#[derive(Debug, Clone)]
struct OrderPlan {
    user: u64,
    commission: i64,
    states: Vec<&'static str>,
    /// How many of `states` were delivered (the order may not be over yet).
    delivered: usize,
}

fn order_plan() -> impl Strategy<Value = OrderPlan> {
    (
        0..USERS.len(),
        0i64..100_000,
        any::<(bool, bool, bool)>(),
        1usize..=4,
    )
        .prop_map(|(u, commission, (confirm, settle, refund), delivered)| {
            let states = path(confirm, settle, refund);
            let delivered = delivered.min(states.len());
            OrderPlan {
                user: USERS[u],
                commission,
                states,
                delivered,
            }
        })
}

#[derive(Debug, Clone)]
struct Case {
    percent: u8,
    orders: Vec<OrderPlan>,
    /// (order index, step) for every snapshot delivered, in delivery order.
    deliveries: Vec<(usize, usize)>,
    /// Where the deliveries are cut into pages, and whether the bot restarts before each.
    pages: Vec<(usize, bool)>,
}

fn case() -> impl Strategy<Value = Case> {
    (0u8..=100, prop::collection::vec(order_plan(), 1..=5))
        .prop_flat_map(|(percent, orders)| {
            // Every state delivered at least once, some up to three times.
            let snapshots: Vec<(usize, usize)> = orders
                .iter()
                .enumerate()
                .flat_map(|(i, o)| (0..o.delivered).map(move |s| (i, s)))
                .collect();
            let n = snapshots.len();
            (
                Just(percent),
                Just(orders),
                prop::collection::vec(0usize..n, 0..=n)
                    .prop_map(move |extra| {
                        let mut all = snapshots.clone();
                        all.extend(extra.into_iter().map(|i| snapshots[i]));
                        all
                    })
                    .prop_shuffle(),
                prop::collection::vec((1usize..=4, any::<bool>()), 1..=8),
            )
        })
        .prop_map(|(percent, orders, deliveries, pages)| Case {
            percent,
            orders,
            deliveries,
            pages,
        })
}

async fn reopen(url: &str) -> Store {
    Store::open(url).await.expect("the store opens")
}

/// Feeds the case's deliveries page by page (restarting where asked), then returns the
/// ledger and the stored state each order should end in.
async fn replay(url: &str, case: &Case) -> Vec<LedgerEntry> {
    let mut store = reopen(url).await;
    let ids: Vec<String> = (0..case.orders.len())
        .map(|i| format!("69{i:05}"))
        .collect();
    let mut rest = &case.deliveries[..];
    let mut pages = case.pages.iter().cycle();
    let mut now = 1_795_000_000;
    while !rest.is_empty() {
        let (size, restart) = *pages.next().unwrap();
        let (page, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        if restart {
            store.close().await;
            store = reopen(url).await;
        }
        let orders: Vec<Order> = page
            .iter()
            .map(|&(i, step)| {
                let o = &case.orders[i];
                snapshot(&ids[i], o.user, o.states[step], step, o.commission)
            })
            .collect();
        let items = poller::to_ingest(&orders, &HashSet::new());
        assert_eq!(items.len(), orders.len(), "every snapshot is ours");
        store
            .ingest_page_at(&items, now, case.percent)
            .await
            .expect("the page is stored");
        now += 60;
    }
    let ledger = store.ledger(None, None).await.unwrap();
    store.close().await;
    ledger
}

/// Checks the ledger against the case: per user, accruals plus reversals are the percent of
/// the commission of the orders whose latest delivered state is SETTLE; each (order, kind)
/// once; a reversal only undoes an accrual.
fn check(case: &Case, ledger: &[LedgerEntry]) -> Result<(), String> {
    let mut expected: HashMap<u64, i64> = HashMap::new();
    for (i, o) in case.orders.iter().enumerate() {
        // The stored state: the delivered snapshot with the greatest update_time.
        let last = case
            .deliveries
            .iter()
            .filter(|(j, _)| *j == i)
            .map(|(_, step)| *step)
            .max()
            .unwrap();
        let share = if o.states[last] == "SETTLE" {
            o.commission * i64::from(case.percent) / 100
        } else {
            0
        };
        *expected.entry(o.user).or_default() += share;
    }
    let mut got: HashMap<u64, i64> = HashMap::new();
    let mut facts = HashSet::new();
    let mut accruals: HashMap<&str, i64> = HashMap::new();
    for e in ledger {
        let order = e
            .order_id
            .as_deref()
            .ok_or("an order fact without an order")?;
        if !facts.insert((order, e.kind.as_str())) {
            return Err(format!("{:?} of order {order} written twice", e.kind));
        }
        match e.kind {
            LedgerKind::Accrual => {
                if e.percent != Some(i64::from(case.percent)) {
                    return Err(format!("accrual at {:?}", e.percent));
                }
                accruals.insert(order, e.amount);
            }
            LedgerKind::Reversal => {}
            other => return Err(format!("{other:?} written by polling")),
        }
        *got.entry(e.user_id).or_default() += e.amount;
    }
    for e in ledger.iter().filter(|e| e.kind == LedgerKind::Reversal) {
        let order = e.order_id.as_deref().unwrap();
        match accruals.get(order) {
            Some(a) if *a == -e.amount => {}
            other => return Err(format!("reversal {} of {order} after {other:?}", e.amount)),
        }
    }
    for user in USERS {
        let (want, have) = (
            expected.get(&user).copied().unwrap_or(0),
            got.get(&user).copied().unwrap_or(0),
        );
        if want != have {
            return Err(format!("user {user}: ledger {have} fen, expected {want}"));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn accruals_and_reversals_follow_the_final_states_whatever_the_delivery(case in case()) {
        let db = TestDb::sqlite();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let ledger = rt.block_on(replay(db.url(), &case));
        if let Err(e) = check(&case, &ledger) {
            return Err(TestCaseError::fail(format!("{e}\nledger: {ledger:#?}")));
        }
    }
}

/// The property holds by construction only if the check can fail: a ledger with a fact
/// twice, a missing accrual or a stray reversal is caught.
#[test]
fn the_check_catches_a_wrong_ledger() {
    let case = Case {
        percent: 15,
        orders: vec![OrderPlan {
            user: 1001,
            commission: 199,
            states: path(false, true, false),
            delivered: 2,
        }],
        deliveries: vec![(0, 0), (0, 1)],
        pages: vec![(1, false)],
    };
    let accrual = LedgerEntry {
        id: 1,
        user_id: 1001,
        kind: LedgerKind::Accrual,
        order_id: Some("6900000".into()),
        amount: 29,
        percent: Some(15),
        commission: Some(199),
        operator_id: None,
        note: None,
        created_at: 0,
    };
    assert_eq!(check(&case, std::slice::from_ref(&accrual)), Ok(()));
    assert!(check(&case, &[]).is_err());
    assert!(check(&case, &[accrual.clone(), accrual.clone()]).is_err());
    let reversal = LedgerEntry {
        kind: LedgerKind::Reversal,
        amount: -29,
        ..accrual.clone()
    };
    assert!(check(&case, &[reversal]).is_err());
}

/// One order through every step with each snapshot delivered twice and a restart between
/// pages, on both backends: the accrual once at settlement, the reversal once at the refund.
mod fixed_sequence {
    use super::*;

    async fn deliver(url: &str, state: &str, step: usize) -> Vec<LedgerEntry> {
        let store = reopen(url).await;
        let orders = [snapshot("6912345", 1001, state, step, 12_345)];
        let items = poller::to_ingest(&orders, &HashSet::new());
        store
            .ingest_page_at(&items, 1_795_000_000 + step as i64, 15)
            .await
            .unwrap();
        let ledger = store.ledger(Some(1001), None).await.unwrap();
        store.close().await;
        ledger
    }

    fn lines(ledger: &[LedgerEntry]) -> Vec<(LedgerKind, i64)> {
        ledger.iter().map(|e| (e.kind, e.amount)).collect()
    }

    on_both_backends! {
        #[tokio::test]
        async fn pay_settle_refund_each_twice_writes_each_fact_once(db) {
            // 12345 fen × 15% = 1851.75 → 1851 fen, rounded down.
            assert_eq!(lines(&deliver(db.url(), "PAY_SUCC", 0).await), vec![]);
            for _ in 0..2 {
                let ledger = deliver(db.url(), "SETTLE", 1).await;
                assert_eq!(lines(&ledger), vec![(LedgerKind::Accrual, 1851)]);
                assert_eq!(ledger[0].percent, Some(15));
                assert_eq!(ledger[0].commission, Some(12_345));
            }
            // A stale snapshot after the settlement changes nothing.
            assert_eq!(
                lines(&deliver(db.url(), "PAY_SUCC", 0).await),
                vec![(LedgerKind::Accrual, 1851)]
            );
            for _ in 0..2 {
                assert_eq!(
                    lines(&deliver(db.url(), "REFUND", 2).await),
                    vec![(LedgerKind::Accrual, 1851), (LedgerKind::Reversal, -1851)]
                );
            }
            let store = reopen(db.url()).await;
            assert_eq!(store.available(1001).await.unwrap(), 0);
            store.close().await;
        }
    }
}

on_both_backends! {
    /// Two payouts for one user, asked by two operators and confirmed at the same moment on
    /// two store handles (two instances), when the balance covers one: exactly one is
    /// written, the other refused over the balance left. Without the per-user lock both
    /// would read the same balance under READ COMMITTED and overdraw.
    #[tokio::test(flavor = "multi_thread")]
    async fn concurrent_payouts_for_one_user_never_overdraw(db) {
        let store = Store::open(db.url()).await.unwrap();
        let order = snapshot("6901", 1001, "SETTLE", 1, 10_000);
        let orders = [order];
        let items = poller::to_ingest(&orders, &Default::default());
        store.ingest_page_at(&items, 1, 10).await.unwrap();
        assert_eq!(store.available(1001).await.unwrap(), 1000);
        store.request_payout("a", 7001, 1001, 1000, "", 1).await.unwrap().unwrap();
        store.request_payout("b", 7002, 1001, 1000, "", 1).await.unwrap().unwrap();
        let other = Store::open(db.url()).await.unwrap();
        let (x, y) = tokio::join!(
            store.confirm_payout("a", 7001, 2),
            other.confirm_payout("b", 7002, 2)
        );
        let outcomes = [x.unwrap().1, y.unwrap().1];
        assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "{outcomes:?}");
        assert!(outcomes.iter().any(|o| matches!(
            o,
            Err(douyin_link_bot::store::PayoutRefused::OverBalance { available: 0, .. })
        )), "{outcomes:?}");
        assert_eq!(store.available(1001).await.unwrap(), 0);
        other.close().await;
        let payouts = store
            .ledger(Some(1001), None)
            .await
            .unwrap()
            .into_iter()
            .filter(|l| l.kind == LedgerKind::Payout)
            .count();
        assert_eq!(payouts, 1);
    }
}

/// The per-user lock is taken: while another transaction holds user 1001's money lock, a
/// confirmation for 1001 waits, and goes through once it is released (PostgreSQL; SQLite's
/// one writer does this by itself).
#[tokio::test(flavor = "multi_thread")]
async fn a_confirmation_waits_for_the_users_money_lock() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let store = Store::open(db.url()).await.unwrap();
    let orders = [snapshot("6902", 1001, "SETTLE", 1, 10_000)];
    let items = poller::to_ingest(&orders, &Default::default());
    store.ingest_page_at(&items, 1, 10).await.unwrap();
    store
        .request_payout("t", 7001, 1001, 500, "", 1)
        .await
        .unwrap()
        .unwrap();
    let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(1001)::text")
        .execute(&mut *holder)
        .await
        .unwrap();
    let confirming = tokio::spawn({
        let store = store.clone();
        async move { store.confirm_payout("t", 7001, 2).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        !confirming.is_finished(),
        "the confirmation did not wait for the user's lock"
    );
    holder.commit().await.unwrap();
    let (_, outcome) = confirming.await.unwrap().unwrap();
    assert_eq!(outcome, Ok(500));
}
