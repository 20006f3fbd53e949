//! Product details looked up in batches across every message in flight, not one call per
//! message.
//!
//! When the conversion reply carries no details (kol_ProductShare without `detail`, or a
//! provider that has none), the card needs `kol_MaterialsProductsDetails`, which takes up to
//! [`DETAILS_BATCH`] ids a call. Two hundred people pasting one product each at once would
//! otherwise make two hundred lookups of one id; here the ids asked for within
//! [`WINDOW`] of each other share calls of twenty, and an id already being looked up is not
//! asked again. What upstream answered is remembered: a product's details for
//! [`FORGET_FOUND`] (they are the account's, the same for every user: a product many people
//! paste is looked up once), an id it answered without (the product is gone from the
//! alliance, or the endpoint family has no lookup) for [`FORGET_MISSING`], so a product
//! pasted again and again does not cost a call each time.
//!
//! A lookup never fails: a failed or slow call is an answer of "no details" (the card is the
//! password alone), and is not remembered, so the next message asks again. A lookup endpoint
//! that is down (unreachable, hanging, throttling, refusing the key) is not asked for
//! [`PAUSE`] after [`BREAK_AFTER`] calls in a row found it so (each would otherwise hold every
//! reply up to [`CALL_TIMEOUT`] before it went out without its card); then one call tries it
//! again while the others go without: its failure pauses the lookups again, its answer ends
//! the matter. A refusal about the products (or one the bot cannot classify) is an answer
//! from a working endpoint, never a pause: what one user pastes cannot turn cards off for
//! everyone. Calls made before a pause began do not end it.

use crate::veapi::{ErrorClass, LinkMaker, ProductDetails, VeapiError, DETAILS_BATCH};
use futures::FutureExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long the first id of a batch waits for others before its call is made.
pub const WINDOW: Duration = Duration::from_millis(10);

/// How long an id upstream knew nothing about is answered "none" without a call.
pub const FORGET_MISSING: Duration = Duration::from_secs(600);

/// How long a product's details are answered without a call (prices and coupons change
/// during the day; the card is a snapshot either way).
pub const FORGET_FOUND: Duration = Duration::from_secs(600);

/// How long one lookup call may take before its ids are answered "none" (it counts as a
/// failure). Less than the conversion's wait for details (3 s) less [`WINDOW`], so the answer
/// "none" comes from here and every waiter hears it in time.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(2_800);

/// Calls in a row that found the endpoint down or took longer than [`CALL_TIMEOUT`] before
/// lookups pause.
pub const BREAK_AFTER: u32 = 3;

/// How long lookups are answered "none" at once, without a call, once paused.
pub const PAUSE: Duration = Duration::from_secs(30);

/// At most this many ids are remembered, found or missing (the oldest are forgotten first).
const MISSING_CAP: usize = 10_000;

/// One lookup's answer, once its batch returns.
pub type Answer = oneshot::Receiver<Option<ProductDetails>>;

/// The batcher: cheap to clone, one per conversion service.
#[derive(Clone)]
pub struct DetailsLookup {
    inner: Arc<Inner>,
}

struct Inner {
    links: Arc<dyn LinkMaker>,
    window: Duration,
    call_timeout: Duration,
    pause: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Ids not yet in a call, in the order asked.
    queue: Vec<String>,
    /// Everyone waiting for an id that is queued or in a call.
    waiting: HashMap<String, Vec<oneshot::Sender<Option<ProductDetails>>>>,
    /// Ids upstream answered without, and when.
    missing: HashMap<String, Instant>,
    /// Details upstream answered, and when.
    found: HashMap<String, (ProductDetails, Instant)>,
    /// Lookup calls made (for the tests).
    calls: u64,
    /// Whether calls are made.
    health: Health,
}

/// The lookup endpoint, as the last calls found it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Health {
    /// Calls are made; the last `failures` in a row found the endpoint down.
    Working { failures: u32 },
    /// No call until `until`; paused at `since`.
    Paused { since: Instant, until: Instant },
    /// One call, made at or after `since`, is trying the endpoint again; other lookups are
    /// answered "none" meanwhile.
    Trying { since: Instant },
}

impl Default for Health {
    fn default() -> Self {
        Health::Working { failures: 0 }
    }
}

impl DetailsLookup {
    pub fn new(links: Arc<dyn LinkMaker>) -> DetailsLookup {
        Self::with_timing(links, WINDOW, CALL_TIMEOUT, PAUSE)
    }

    /// With other times than the defaults (tests).
    pub fn with_timing(
        links: Arc<dyn LinkMaker>,
        window: Duration,
        call_timeout: Duration,
        pause: Duration,
    ) -> DetailsLookup {
        DetailsLookup {
            inner: Arc::new(Inner {
                links,
                window,
                call_timeout,
                pause,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Starts looking `id` up (now: the call is under way before the answer is awaited) and
    /// returns where its answer will arrive. Must be called inside a Tokio runtime.
    pub fn lookup(&self, id: &str) -> Answer {
        let (tx, rx) = oneshot::channel();
        let mut state = self.inner.lock();
        if let Some((d, at)) = state.found.get(id) {
            if at.elapsed() < FORGET_FOUND {
                let _ = tx.send(Some(d.clone()));
                return rx;
            }
            state.found.remove(id);
        }
        if let Some(at) = state.missing.get(id) {
            if at.elapsed() < FORGET_MISSING {
                let _ = tx.send(None);
                return rx;
            }
            state.missing.remove(id);
        }
        let now = Instant::now();
        match state.health {
            Health::Paused { until, .. } if now < until => {
                let _ = tx.send(None);
                return rx;
            }
            Health::Trying { .. } => {
                let _ = tx.send(None);
                return rx;
            }
            _ => {}
        }
        if let Some(list) = state.waiting.get_mut(id) {
            list.push(tx);
            return rx;
        }
        if let Health::Paused { .. } = state.health {
            // The pause is over: this id's call is the one that tries again.
            state.health = Health::Trying { since: now };
        }
        state.waiting.insert(id.to_string(), vec![tx]);
        state.queue.push(id.to_string());
        if state.queue.len() >= DETAILS_BATCH {
            let batch: Vec<String> = state.queue.drain(..DETAILS_BATCH).collect();
            state.calls += 1;
            drop(state);
            tokio::spawn(self.inner.clone().call(batch));
        } else if state.queue.len() == 1 {
            // The first id of a batch: its call leaves after the window, with whatever came.
            drop(state);
            let inner = self.inner.clone();
            tokio::spawn(async move {
                tokio::time::sleep(inner.window).await;
                let batches: Vec<Vec<String>> = {
                    let mut state = inner.lock();
                    let queued = std::mem::take(&mut state.queue);
                    let batches: Vec<Vec<String>> =
                        queued.chunks(DETAILS_BATCH).map(<[_]>::to_vec).collect();
                    state.calls += batches.len() as u64;
                    batches
                };
                for batch in batches {
                    tokio::spawn(inner.clone().call(batch));
                }
            });
        }
        rx
    }

    /// How many lookup calls were made so far.
    pub fn calls(&self) -> u64 {
        self.inner.lock().calls
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn call(self: Arc<Self>, batch: Vec<String>) {
        let started = Instant::now();
        // A call that must first wait for a slot behind conversions is slow because the bot
        // is busy: its timeout says nothing about the endpoint.
        let queued = self.links.saturated();
        let reply = std::panic::AssertUnwindSafe(tokio::time::timeout(
            self.call_timeout,
            self.links.details(&batch),
        ))
        .catch_unwind()
        .await;
        // A panic in the call is a failed call (its waiters hear "none", the health moves on).
        let reply = reply.unwrap_or_else(|_| {
            Ok(Err(VeapiError::Transport(
                "product details lookup panicked".into(),
            )))
        });
        let mut found: HashMap<String, ProductDetails> = HashMap::new();
        // `answered`: the reply is an answer for every id (an id not in it is unknown);
        // `down`: the endpoint is unreachable, hanging, throttling or refusing the key
        // (`None`: the call says nothing either way — it timed out queued behind the bot's
        // own calls).
        let (answered, down) = match reply {
            Ok(Ok(list)) => {
                for d in list {
                    if let Some(id) = d.product_id.clone() {
                        found.entry(id).or_insert(d);
                    }
                }
                (true, Some(false))
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, products = batch.len(), "product details lookup failed; replying without them");
                (false, Some(endpoint_down(e.class())))
            }
            Err(_) => {
                tracing::warn!(
                    products = batch.len(),
                    seconds = self.call_timeout.as_secs_f32(),
                    queued,
                    "product details lookup took too long; replying without them"
                );
                (false, (!queued).then_some(true))
            }
        };
        let mut state = self.lock();
        let now = Instant::now();
        state.health = match (state.health, down) {
            // Made before the pause or the trial began: it says nothing newer.
            (Health::Paused { since, .. } | Health::Trying { since }, _) if started < since => {
                state.health
            }
            // A trial that says nothing: the next lookup tries again.
            (Health::Trying { since }, None) => Health::Paused {
                since,
                until: since,
            },
            (health, None) => health,
            (_, Some(false)) => Health::Working { failures: 0 },
            (Health::Working { failures }, Some(true)) if failures + 1 < BREAK_AFTER => {
                Health::Working {
                    failures: failures + 1,
                }
            }
            (_, Some(true)) => {
                tracing::warn!(
                    seconds = self.pause.as_secs_f32(),
                    "product details lookups keep failing; cards go without details for a while"
                );
                Health::Paused {
                    since: now,
                    until: now + self.pause,
                }
            }
        };
        for id in batch {
            let details = found.remove(&id);
            match &details {
                Some(d) => {
                    if state.found.len() >= MISSING_CAP {
                        forget_oldest(&mut state.found, FORGET_FOUND, |(_, at)| *at);
                    }
                    state.found.insert(id.clone(), (d.clone(), now));
                }
                None if answered => {
                    if state.missing.len() >= MISSING_CAP {
                        forget_oldest(&mut state.missing, FORGET_MISSING, |at| *at);
                    }
                    state.missing.insert(id.clone(), now);
                }
                None => {}
            }
            for tx in state.waiting.remove(&id).unwrap_or_default() {
                let _ = tx.send(details.clone());
            }
        }
    }
}

/// Whether a refusal says the lookup endpoint itself is unusable for now (any product asked
/// would get it), as opposed to an answer about the products asked.
fn endpoint_down(class: ErrorClass) -> bool {
    match class {
        ErrorClass::Transport
        | ErrorClass::Throttled
        | ErrorClass::KeyOrQuota
        | ErrorClass::Authorization => true,
        ErrorClass::Product | ErrorClass::Other | ErrorClass::Unexpected => false,
    }
}

/// Drops the entries older than `keep`, and if that was not enough, the older half.
fn forget_oldest<V>(map: &mut HashMap<String, V>, keep: Duration, at: impl Fn(&V) -> Instant) {
    map.retain(|_, v| at(v).elapsed() < keep);
    if map.len() >= MISSING_CAP {
        let mut ages: Vec<Instant> = map.values().map(&at).collect();
        ages.sort();
        let cut = ages[ages.len() / 2];
        map.retain(|_, v| at(v) > cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::veapi::{ShareLink, ShareRequest};
    use futures::future::BoxFuture;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Knows products whose id is even; counts calls and the ids each call asked.
    #[derive(Default)]
    struct Catalogue {
        calls: AtomicU64,
        asked: Mutex<Vec<Vec<String>>>,
        fail: std::sync::atomic::AtomicBool,
        hang: std::sync::atomic::AtomicBool,
        refuse: std::sync::atomic::AtomicBool,
        panic: std::sync::atomic::AtomicBool,
        saturated: std::sync::atomic::AtomicBool,
    }

    impl LinkMaker for Catalogue {
        fn share<'a>(
            &'a self,
            _req: &'a ShareRequest<'a>,
        ) -> BoxFuture<'a, Result<ShareLink, VeapiError>> {
            unreachable!("the lookup never converts")
        }

        fn details<'a>(
            &'a self,
            ids: &'a [String],
        ) -> BoxFuture<'a, Result<Vec<ProductDetails>, VeapiError>> {
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                self.asked.lock().unwrap().push(ids.to_vec());
                tokio::time::sleep(Duration::from_millis(20)).await;
                if ids.iter().any(|id| id.len() >= 4) {
                    // Ids of four digits and more: slow, and always answered.
                    tokio::time::sleep(Duration::from_millis(1000)).await;
                    return Ok(Vec::new());
                }
                if self.panic.load(Ordering::SeqCst) {
                    panic!("a bug in the lookup");
                }
                if self.hang.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                if self.fail.load(Ordering::SeqCst) {
                    return Err(VeapiError::Transport("reset".into()));
                }
                if self.refuse.load(Ordering::SeqCst) {
                    // veapi's envelope for products it cannot show (`shared/veapi.md`), and
                    // for a refusal of words the bot does not know, in turn.
                    let msg = if self.calls.load(Ordering::SeqCst) % 2 == 0 {
                        "商品不存在"
                    } else {
                        "系统异常"
                    };
                    return Err(VeapiError::Api {
                        code: "1".into(),
                        msg: msg.into(),
                        class: crate::veapi::classify("1", msg),
                        request_id: None,
                    });
                }
                Ok(ids
                    .iter()
                    .filter(|id| id.parse::<u64>().unwrap() % 2 == 0)
                    .map(|id| ProductDetails {
                        product_id: Some(id.clone()),
                        title: Some(format!("product {id}")),
                        ..Default::default()
                    })
                    .collect())
            })
        }

        fn saturated(&self) -> bool {
            self.saturated.load(Ordering::SeqCst)
        }
    }

    async fn answers(lookup: &DetailsLookup, ids: &[u64]) -> Vec<Option<String>> {
        let pending: Vec<Answer> = ids
            .iter()
            .map(|id| lookup.lookup(&id.to_string()))
            .collect();
        let mut out = Vec::new();
        for rx in pending {
            out.push(rx.await.unwrap().and_then(|d| d.title));
        }
        out
    }

    /// Makes the endpoint fail [`BREAK_AFTER`] calls in a row (ids 10, 12, …), which pauses
    /// the lookups; it keeps failing until told otherwise.
    async fn fail_until_paused(cat: &Catalogue, lookup: &DetailsLookup) {
        cat.fail.store(true, Ordering::SeqCst);
        for n in 0..BREAK_AFTER {
            assert_eq!(answers(lookup, &[10 + 2 * n as u64]).await, vec![None]);
        }
    }

    #[tokio::test]
    async fn ids_asked_together_share_calls_of_twenty_and_each_gets_its_own() {
        let cat = Arc::new(Catalogue::default());
        let lookup = DetailsLookup::new(cat.clone());
        let ids: Vec<u64> = (100..145).collect();
        let got = answers(&lookup, &ids).await;
        for (id, title) in ids.iter().zip(&got) {
            let want = (id % 2 == 0).then(|| format!("product {id}"));
            assert_eq!(title, &want, "id {id}");
        }
        // 45 ids: two full calls at once, the last 5 after the window.
        assert_eq!(cat.calls.load(Ordering::SeqCst), 3);
        let asked = cat.asked.lock().unwrap().clone();
        assert!(asked.iter().all(|a| a.len() <= DETAILS_BATCH));
        assert_eq!(asked.iter().map(Vec::len).sum::<usize>(), 45);
        assert_eq!(lookup.calls(), 3);
    }

    #[tokio::test]
    async fn the_same_id_asked_twice_at_once_is_asked_upstream_once() {
        let cat = Arc::new(Catalogue::default());
        let lookup = DetailsLookup::new(cat.clone());
        let got = answers(&lookup, &[8, 8, 8]).await;
        assert_eq!(got, vec![Some("product 8".to_string()); 3]);
        assert_eq!(
            cat.asked.lock().unwrap().clone(),
            vec![vec!["8".to_string()]]
        );
    }

    #[tokio::test]
    async fn what_upstream_answered_is_not_asked_again_soon() {
        let cat = Arc::new(Catalogue::default());
        let lookup = DetailsLookup::new(cat.clone());
        assert_eq!(answers(&lookup, &[7]).await, vec![None]);
        assert_eq!(answers(&lookup, &[7]).await, vec![None]);
        assert_eq!(cat.calls.load(Ordering::SeqCst), 1);
        // A known product too: asked once, then answered from memory.
        assert_eq!(answers(&lookup, &[6]).await, vec![Some("product 6".into())]);
        assert_eq!(answers(&lookup, &[6]).await, vec![Some("product 6".into())]);
        assert_eq!(cat.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_call_answers_none_and_is_not_remembered() {
        let cat = Arc::new(Catalogue::default());
        cat.fail.store(true, Ordering::SeqCst);
        let lookup = DetailsLookup::new(cat.clone());
        assert_eq!(answers(&lookup, &[4, 5]).await, vec![None, None]);
        cat.fail.store(false, Ordering::SeqCst);
        assert_eq!(
            answers(&lookup, &[4, 5]).await,
            vec![Some("product 4".into()), None]
        );
        assert_eq!(cat.calls.load(Ordering::SeqCst), 2);
    }

    /// Short times for the pause tests: window, call timeout, pause.
    fn quick(cat: &Arc<Catalogue>) -> DetailsLookup {
        DetailsLookup::with_timing(
            cat.clone(),
            Duration::from_millis(5),
            Duration::from_millis(300),
            Duration::from_millis(400),
        )
    }

    #[tokio::test]
    async fn an_endpoint_that_keeps_failing_is_left_alone_for_a_while() {
        let cat = Arc::new(Catalogue::default());
        cat.fail.store(true, Ordering::SeqCst);
        let lookup = quick(&cat);
        for n in 0..BREAK_AFTER {
            assert_eq!(answers(&lookup, &[10 + n as u64]).await, vec![None]);
        }
        assert_eq!(cat.calls.load(Ordering::SeqCst), BREAK_AFTER as u64);
        // Paused: answered at once, upstream not asked, even once it is well again.
        cat.fail.store(false, Ordering::SeqCst);
        assert_eq!(answers(&lookup, &[20, 22]).await, vec![None, None]);
        assert_eq!(cat.calls.load(Ordering::SeqCst), BREAK_AFTER as u64);
        // After the pause it is asked again; one failure pauses it again at once.
        tokio::time::sleep(Duration::from_millis(400)).await;
        cat.fail.store(true, Ordering::SeqCst);
        assert_eq!(answers(&lookup, &[20]).await, vec![None]);
        assert_eq!(answers(&lookup, &[22]).await, vec![None]);
        assert_eq!(cat.calls.load(Ordering::SeqCst), BREAK_AFTER as u64 + 1);
        // One answered call after the next pause ends it.
        tokio::time::sleep(Duration::from_millis(400)).await;
        cat.fail.store(false, Ordering::SeqCst);
        assert_eq!(
            answers(&lookup, &[20]).await,
            vec![Some("product 20".into())]
        );
        cat.fail.store(true, Ordering::SeqCst);
        assert_eq!(answers(&lookup, &[24]).await, vec![None]);
        assert_eq!(answers(&lookup, &[26]).await, vec![None]);
        assert_eq!(cat.calls.load(Ordering::SeqCst), BREAK_AFTER as u64 + 4);
    }

    #[tokio::test]
    async fn refusals_about_the_products_never_pause_the_lookups() {
        let cat = Arc::new(Catalogue::default());
        cat.refuse.store(true, Ordering::SeqCst);
        let lookup = quick(&cat);
        for n in 0..=BREAK_AFTER {
            assert_eq!(answers(&lookup, &[30 + 2 * n as u64]).await, vec![None]);
        }
        cat.refuse.store(false, Ordering::SeqCst);
        assert_eq!(
            answers(&lookup, &[40]).await,
            vec![Some("product 40".into())]
        );
        assert_eq!(cat.calls.load(Ordering::SeqCst), BREAK_AFTER as u64 + 2);
    }

    #[tokio::test]
    async fn after_a_pause_one_call_tries_and_the_others_go_without() {
        let cat = Arc::new(Catalogue::default());
        let lookup = quick(&cat);
        fail_until_paused(&cat, &lookup).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        cat.fail.store(false, Ordering::SeqCst);
        // Asked together: 50 tries, 52 is answered "none" without waiting for it.
        assert_eq!(
            answers(&lookup, &[50, 52]).await,
            vec![Some("product 50".into()), None]
        );
        assert_eq!(cat.calls.load(Ordering::SeqCst), BREAK_AFTER as u64 + 1);
        // The trial's answer ended the pause.
        assert_eq!(
            answers(&lookup, &[52]).await,
            vec![Some("product 52".into())]
        );
    }

    #[tokio::test]
    async fn a_call_made_before_the_pause_does_not_end_it() {
        let cat = Arc::new(Catalogue::default());
        // A pause longer than the slow call.
        let lookup = DetailsLookup::with_timing(
            cat.clone(),
            Duration::from_millis(5),
            Duration::from_secs(2),
            Duration::from_secs(5),
        );
        // A slow call (1 s) that will be answered, made first…
        let slow = lookup.lookup("1000");
        tokio::time::sleep(Duration::from_millis(20)).await;
        // …then the endpoint fails three times and the lookups pause…
        fail_until_paused(&cat, &lookup).await;
        // …and the slow answer, arriving during the pause, does not end it.
        assert_eq!(slow.await.unwrap(), None);
        cat.fail.store(false, Ordering::SeqCst);
        assert_eq!(answers(&lookup, &[60]).await, vec![None]);
        assert_eq!(cat.calls.load(Ordering::SeqCst), BREAK_AFTER as u64 + 1);
    }

    #[tokio::test]
    async fn a_call_that_panics_is_a_failure_and_the_lookups_go_on() {
        let cat = Arc::new(Catalogue::default());
        let lookup = quick(&cat);
        fail_until_paused(&cat, &lookup).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        // The trial call panics: its waiter hears "none", the lookups pause again…
        cat.panic.store(true, Ordering::SeqCst);
        assert_eq!(answers(&lookup, &[20]).await, vec![None]);
        cat.panic.store(false, Ordering::SeqCst);
        cat.fail.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(400)).await;
        // …and the next trial is made: nothing stays stuck.
        assert_eq!(
            answers(&lookup, &[20]).await,
            vec![Some("product 20".into())]
        );
        assert_eq!(
            answers(&lookup, &[22]).await,
            vec![Some("product 22".into())]
        );
    }

    #[tokio::test]
    async fn a_call_slow_because_the_bot_is_busy_neither_pauses_nor_clears_the_count() {
        let cat = Arc::new(Catalogue::default());
        let lookup = quick(&cat);
        // Two real failures…
        cat.fail.store(true, Ordering::SeqCst);
        for n in 1..BREAK_AFTER {
            assert_eq!(answers(&lookup, &[10 + 2 * n as u64]).await, vec![None]);
        }
        // …then calls that time out queued behind the bot's own: no pause…
        cat.hang.store(true, Ordering::SeqCst);
        cat.saturated.store(true, Ordering::SeqCst);
        for n in 0..=BREAK_AFTER {
            assert_eq!(answers(&lookup, &[30 + 2 * n as u64]).await, vec![None]);
        }
        assert_eq!(cat.calls.load(Ordering::SeqCst), 2 * BREAK_AFTER as u64);
        // …and no fresh start either: the next real failure is the third in a row.
        cat.hang.store(false, Ordering::SeqCst);
        cat.saturated.store(false, Ordering::SeqCst);
        assert_eq!(answers(&lookup, &[50]).await, vec![None]);
        assert_eq!(answers(&lookup, &[52]).await, vec![None]);
        assert_eq!(cat.calls.load(Ordering::SeqCst), 2 * BREAK_AFTER as u64 + 1);
    }

    #[test]
    fn a_call_gives_up_before_the_conversion_stops_waiting_for_it() {
        assert!(CALL_TIMEOUT + WINDOW < crate::convert::DETAILS_TIMEOUT);
    }

    #[tokio::test]
    async fn a_hanging_endpoint_answers_none_in_time_and_counts_as_failing() {
        let cat = Arc::new(Catalogue::default());
        cat.hang.store(true, Ordering::SeqCst);
        let lookup = quick(&cat);
        let started = Instant::now();
        assert_eq!(answers(&lookup, &[2]).await, vec![None]);
        // The call's own timeout answered (the endpoint sleeps for an hour).
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(300), "{took:?}");
        for n in 1..BREAK_AFTER {
            assert_eq!(answers(&lookup, &[2 + 2 * n as u64]).await, vec![None]);
        }
        let started = Instant::now();
        assert_eq!(answers(&lookup, &[100]).await, vec![None]);
        // At once, not after the call's 300 ms timeout.
        assert!(started.elapsed() < Duration::from_millis(250));
        assert_eq!(cat.calls.load(Ordering::SeqCst), BREAK_AFTER as u64);
    }

    #[test]
    fn the_missing_list_stays_bounded() {
        let mut missing = HashMap::new();
        let start = Instant::now();
        for i in 0..MISSING_CAP {
            missing.insert(i.to_string(), start + Duration::from_micros(i as u64));
        }
        forget_oldest(&mut missing, FORGET_MISSING, |at| *at);
        assert!(missing.len() <= MISSING_CAP / 2 + 1, "{}", missing.len());
        assert!(missing.contains_key(&(MISSING_CAP - 1).to_string()));
    }
}
