//! Polls the operator's orders and turns what is new into outbox messages.
//!
//! Each poll covers the window from the last successful poll's end, minus an overlap, to now
//! (never more than 90 days back), in chunks of at most a day, following every page. The
//! watermark moves only after a whole chunk is stored, so a failure anywhere loses nothing:
//! the next success covers the gap. Re-reading an order is harmless (upsert by order id,
//! one outbox row per (order, state) ever).
//!
//! Two things hold the watermark: an order upstream sent that cannot be read (the watermark
//! stays at its window's start and that window alone is read again each poll, so a stuck
//! order costs its own pages a poll, not a re-read of everything since; later windows are
//! still read and told; the operators hear once per order), and the cap on veapi calls per
//! poll (a cursor that never ends costs at most `max_calls` calls a poll; the operators hear
//! once, and a poll that still moved on does not count as a failure).

use crate::alerts::{Alerts, Source};
use crate::events::{Event, OrderFacts, OrderNews};
use crate::http::metrics::set_poller_holder;
use crate::lease::Lease;
use crate::store::{IngestOrder, IngestStats, Notice, Store, StoreError};
use crate::tracking::{self, Attribution};
use crate::veapi::{
    ErrorClass, FlowPoint, Order, OrderSource, OrdersPage, Provider, Unreadable, VeapiError, Window,
};
use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{watch, Notify};

/// Where the end of the last fully stored window is kept (unix seconds), for `kol` (the
/// key of the stores made before providers could be chosen); see [`watermark_key`].
pub const WATERMARK_KEY: &str = "orders_watermark";
/// Windows that held an unreadable order, and how far reading got past them (JSON), for
/// `kol`; see [`held_key`].
pub const HELD_KEY: &str = "orders_held_windows";

/// The watermark's key for `provider`. Each provider keeps its own: order ids are unique
/// across providers (so orders and their messages are keyed by id alone and a switch never
/// repeats a message), but how far one provider's orders were read says nothing about
/// another's, so a switch starts the new provider's reading where a first poll would.
pub fn watermark_key(provider: Provider) -> String {
    match provider {
        Provider::Kol => WATERMARK_KEY.to_string(),
        other => format!("{WATERMARK_KEY}:{other}"),
    }
}

/// The held windows' key for `provider` (see [`watermark_key`]).
pub fn held_key(provider: Provider) -> String {
    match provider {
        Provider::Kol => HELD_KEY.to_string(),
        other => format!("{HELD_KEY}:{other}"),
    }
}
/// Upstream accepts `start_time` at most 90 days back; keep a day's margin.
const MAX_LOOKBACK_SECS: i64 = 89 * 24 * 3600;

#[derive(Debug, Error)]
pub enum PollError {
    #[error(transparent)]
    Upstream(#[from] VeapiError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stopped after {calls} veapi calls in one poll, in the window {window}")]
    CallCap {
        calls: usize,
        window: String,
        /// Whether the poll still read a window to its end (a long catch-up, not a stall).
        moved: bool,
    },
}

#[derive(Debug, Clone)]
pub struct PollerSettings {
    pub interval: Duration,
    /// How far each window reaches back before the previous one's end.
    pub overlap: Duration,
    /// The longest window asked for in one go.
    pub chunk: Duration,
    /// Pages per window before it is split in two.
    pub max_pages: usize,
    /// veapi calls (retries included) one poll may make; the rest waits for the next poll.
    pub max_calls: usize,
    /// Where a first poll starts when nothing was converted yet.
    pub first_lookback: Duration,
    /// Quick retries of a failed page before the whole poll counts as failed.
    pub page_retries: u32,
    pub retry_delay: Duration,
    /// The longest wait between failed polls.
    pub max_backoff: Duration,
    /// `REBATE_PERCENT`: settled orders accrue this share of their commission to their user
    /// (0: no ledger facts).
    pub rebate_percent: u8,
}

impl PollerSettings {
    pub fn new(interval: Duration) -> Self {
        PollerSettings {
            interval,
            overlap: Duration::from_secs(5 * 60),
            chunk: Duration::from_secs(24 * 3600),
            max_pages: 250,
            max_calls: 500,
            first_lookback: Duration::from_secs(24 * 3600),
            page_retries: 2,
            retry_delay: Duration::from_secs(2),
            max_backoff: Duration::from_secs(15 * 60),
            rebate_percent: 0,
        }
    }
}

/// Reading's progress while some windows hold an order that could not be read.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Held {
    /// The end of the last window read (every window before it is read or listed below).
    frontier: i64,
    /// `(start, end)` of each window read again every poll until its orders can be read.
    windows: Vec<(i64, i64)>,
}

impl Held {
    fn watermark(&self) -> i64 {
        self.windows
            .iter()
            .map(|w| w.0)
            .fold(self.frontier, i64::min)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollReport {
    pub pages: usize,
    /// Calls made to the order source, retries included.
    pub calls: usize,
    pub stats: IngestStats,
    pub unreadable: usize,
}

pub struct Poller {
    source: Arc<dyn OrderSource>,
    store: Store,
    settings: PollerSettings,
    alerts: Option<Alerts>,
    wake: Arc<Notify>,
    /// Polls only while held: one instance polls at a time ([`crate::lease`]).
    lease: Lease,
}

pub fn china_time(unix: i64) -> String {
    let tz = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    tz.timestamp_opt(unix, 0)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// The China-time calendar day at `unix`.
pub fn china_date(unix: i64) -> chrono::NaiveDate {
    let tz = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    tz.timestamp_opt(unix, 0)
        .single()
        .map_or(chrono::NaiveDate::MIN, |t| t.date_naive())
}

/// Parses `YYYY-MM-DD HH:MM:SS` in China time.
pub fn parse_china_time(s: &str) -> Option<i64> {
    let naive = chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    let tz = FixedOffset::east_opt(8 * 3600)?;
    tz.from_local_datetime(&naive)
        .single()
        .map(|t| t.timestamp())
}

/// The messages an order's current state calls for; the dedupe keys make each one happen
/// once. CONFIRM (received) is recorded but not announced: nothing changes for the user
/// until settlement.
pub fn notices(order: &Order) -> Vec<Notice> {
    let notice = |news: OrderNews, state: &str| Notice {
        dedupe_key: format!("order:{}:{state}", order.order_id),
        event: Event::Order {
            news,
            order: OrderFacts::from(order),
        },
    };
    let mut out = vec![notice(OrderNews::New, "NEW")];
    match order.flow() {
        FlowPoint::Refunded => out.push(notice(OrderNews::Refunded, "REFUND")),
        FlowPoint::Settled => out.push(notice(OrderNews::Settled, "SETTLE")),
        FlowPoint::Paid | FlowPoint::Confirmed | FlowPoint::Unknown => {}
    }
    out
}

/// A page's orders as the store takes them: attributed to a user when their external_info is
/// ours, with the messages their states call for. An order without our attribution still
/// carries them: a later snapshot may have lost its `pid_info`, and the store sends them to
/// the user it already has for the order (other channels' orders have none and tell nobody).
/// `issued_legacy` holds the earlier-format values the store shows it issued (see
/// [`tracking::Attribution::Legacy`]); any other value that carries our prefix but does not
/// decode is logged here and counted in `/stats` (from the stored orders), never a user.
pub fn to_ingest<'a>(orders: &'a [Order], issued_legacy: &HashSet<String>) -> Vec<IngestOrder<'a>> {
    orders
        .iter()
        .map(|o| IngestOrder {
            order: o,
            user_id: o.attribution().and_then(|v| match tracking::attribute(v) {
                Attribution::User(id) => Some(id),
                Attribution::Legacy(id) if issued_legacy.contains(v) => Some(id),
                Attribution::Legacy(_) => {
                    unattributed(o, v, "earlier-format value this bot never issued");
                    None
                }
                Attribution::Corrupt(e) => {
                    unattributed(o, v, &e.to_string());
                    None
                }
                Attribution::Foreign => None,
            }),
            notices: notices(o),
        })
        .collect()
}

fn unattributed(order: &Order, external_info: &str, why: &str) {
    tracing::warn!(
        order_id = %order.order_id,
        external_info,
        reason = why,
        "order carries this bot's external_info prefix but does not decode; nobody is notified"
    );
}

/// The earlier-format values of a page, with the user each names, for the store to confirm.
pub fn legacy_candidates(orders: &[Order]) -> Vec<(u64, &str)> {
    orders
        .iter()
        .filter_map(|o| {
            let v = o.attribution()?;
            match tracking::attribute(v) {
                Attribution::Legacy(id) => Some((id, v)),
                _ => None,
            }
        })
        .collect()
}

impl Poller {
    pub fn new(
        source: Arc<dyn OrderSource>,
        store: Store,
        settings: PollerSettings,
        alerts: Option<Alerts>,
        wake: Arc<Notify>,
    ) -> Self {
        Poller {
            source,
            store,
            settings,
            alerts,
            wake,
            lease: Lease::always(),
        }
    }

    /// Polls only while `lease` is held (several instances on one database).
    pub fn with_lease(mut self, lease: Lease) -> Self {
        self.lease = lease;
        self
    }

    pub async fn watermark(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .store
            .kv_get(&watermark_key(self.source.provider()))
            .await?
            .and_then(|v| v.parse().ok()))
    }

    /// Polls until `shutdown` turns true; failures back off and never stop the loop.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut failures: u32 = 0;
        loop {
            if *shutdown.borrow() {
                break;
            }
            set_poller_holder(self.lease.is_held());
            if !self.lease.is_held() {
                tracing::info!("another instance polls orders; standing by");
                tokio::select! {
                    _ = self.lease.acquired() => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            // Dropping a poll midway is safe: pages are stored in transactions and the
            // watermark only moves after a whole chunk. So is a poll dropped because the
            // lease was lost: the new holder goes on from the stored watermark.
            let mut lease = self.lease.clone();
            let outcome = tokio::select! {
                r = self.poll_once(Utc::now()) => r,
                _ = lease.lost() => continue,
                _ = shutdown.changed() => break,
            };
            let delay = match outcome {
                Ok(report) => {
                    if failures > 0 {
                        tracing::info!(after_failures = failures, "order polling recovered");
                    }
                    failures = 0;
                    tracing::debug!(?report, "orders polled");
                    if let Some(a) = &self.alerts {
                        if let Err(e) = a.succeeded(Source::Orders).await {
                            tracing::error!(error = %e, "could not record the recovery");
                        }
                    }
                    self.settings.interval
                }
                // A catch-up that needs more calls than one poll may make, but moved on: the
                // next poll goes on from there after the usual interval, not after a backoff.
                Err(PollError::CallCap { moved: true, .. }) => {
                    tracing::info!("call cap reached after progress; the next poll goes on");
                    self.settings.interval
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(error = %e, failures, "order poll failed; will retry");
                    if let (Some(a), PollError::Upstream(up)) = (&self.alerts, &e) {
                        if let Err(e) = a.failed(Source::Orders, up, failures).await {
                            tracing::error!(error = %e, "could not record the incident");
                        }
                    }
                    self.backoff(failures)
                }
            };
            let mut lease = self.lease.clone();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = lease.lost() => {}
                _ = shutdown.changed() => {}
            }
        }
        set_poller_holder(false);
        tracing::info!("order poller stopped");
    }

    /// Doubling from the poll interval, capped.
    fn backoff(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.min(10);
        (self.settings.interval * factor / 2)
            .max(self.settings.interval)
            .min(self.settings.max_backoff.max(self.settings.interval))
    }

    /// Windows that held an order that could not be read, and how far reading got past them.
    async fn held(&self) -> Result<Held, StoreError> {
        Ok(self
            .store
            .kv_get(&held_key(self.source.provider()))
            .await?
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or_default())
    }

    /// Stores how far reading got: the watermark is the start of the oldest window that still
    /// holds an unreadable order, else the end of the last window read.
    async fn save_progress(&self, held: &Held) -> Result<(), StoreError> {
        let now = Utc::now().timestamp();
        let provider = self.source.provider();
        if held.windows.is_empty() {
            self.store.kv_delete(&held_key(provider)).await?;
        } else {
            let json = serde_json::to_string(held).expect("plain numbers serialise");
            self.store.kv_set(&held_key(provider), &json, now).await?;
        }
        self.store
            .kv_set(&watermark_key(provider), &held.watermark().to_string(), now)
            .await?;
        Ok(())
    }

    /// One poll: first the windows that held an unreadable order, then from where reading
    /// got (minus the overlap) to `now`, chunk by chunk.
    pub async fn poll_once(&self, now: DateTime<Utc>) -> Result<PollReport, PollError> {
        let now = now.timestamp();
        let oldest = now - MAX_LOOKBACK_SECS;
        let overlap = self.settings.overlap.as_secs() as i64;
        let mut held = self.held().await?;
        let read_to = if held.windows.is_empty() {
            self.watermark().await?
        } else {
            Some(held.frontier)
        };
        let from = match read_to {
            Some(w) if w - overlap < oldest => {
                tracing::error!(
                    since = %china_time(w),
                    "polling was down longer than upstream keeps orders (90 days); older updates cannot be read"
                );
                oldest
            }
            Some(w) => w - overlap,
            None => {
                // The very first poll reaches back to the first conversion (or a day). Its
                // start is stored now, so a failure cannot let it drift with the clock.
                let first = now - self.settings.first_lookback.as_secs() as i64;
                let converted = self.store.earliest_conversion_at().await?.unwrap_or(first);
                let start = first.min(converted).max(oldest);
                self.store
                    .kv_set(
                        &watermark_key(self.source.provider()),
                        &(start + overlap).to_string(),
                        now,
                    )
                    .await?;
                start
            }
        }
        .max(oldest);

        let mut report = PollReport::default();
        let mut bad: Vec<Unreadable> = Vec::new();

        // Windows that held an unreadable order are read again, each on its own: what that
        // costs is their own pages, not a re-read of everything since.
        let retry = std::mem::take(&mut held.windows);
        held.frontier = read_to.unwrap_or(from + overlap);
        for (i, &(start, end)) in retry.iter().enumerate() {
            if start < oldest {
                tracing::error!(
                    window = %format!("{} – {}", china_time(start), china_time(end)),
                    "a window with an unreadable order fell out of upstream's 90-day reach; it cannot be read any more"
                );
                continue;
            }
            let before = bad.len();
            match self.poll_window(start, end, &mut report, &mut bad).await? {
                WindowOutcome::Done if bad.len() == before => {}
                WindowOutcome::Done | WindowOutcome::ReadAgain => held.windows.push((start, end)),
                WindowOutcome::TooManyPages | WindowOutcome::CallCap => {
                    held.windows.extend_from_slice(&retry[i..]);
                    self.save_progress(&held).await?;
                    let moved = held.windows.len() < retry.len();
                    return Err(self.cap_reached(&report, start, end, &bad, moved).await);
                }
            }
        }
        if !retry.is_empty() {
            self.save_progress(&held).await?;
        }

        let mut start = from;
        // Shrinks when a window needs too many pages, for the rest of this poll.
        let mut chunk = self.settings.chunk.as_secs().max(60) as i64;
        while start < now {
            let mut end = (start + chunk).min(now);
            let unreadable_before = bad.len();
            let mut read_again = false;
            loop {
                match self.poll_window(start, end, &mut report, &mut bad).await? {
                    WindowOutcome::Done => break,
                    WindowOutcome::ReadAgain => {
                        read_again = true;
                        break;
                    }
                    // Too many pages for one window: halve it, down to a minute.
                    WindowOutcome::TooManyPages if end - start > 60 => {
                        end = start + (end - start) / 2;
                        chunk = end - start;
                    }
                    // A minute with more pages than that, or the call cap: stop here and say
                    // so, skipping nothing.
                    WindowOutcome::TooManyPages | WindowOutcome::CallCap => {
                        let moved = start > from || held.windows.len() < retry.len();
                        return Err(self.cap_reached(&report, start, end, &bad, moved).await);
                    }
                }
            }
            if read_again || bad.len() > unreadable_before {
                held.windows.push((start, end));
            }
            held.frontier = end;
            self.save_progress(&held).await?;
            start = end;
        }
        self.tell_unreadable(&bad).await;
        if let Some(a) = &self.alerts {
            let mut over = vec![Source::OrderPaging];
            if bad.is_empty() {
                over.push(Source::UnreadableOrders);
            }
            for source in over {
                if let Err(e) = a.succeeded(source).await {
                    tracing::error!(error = %e, "could not record the recovery");
                }
            }
        }
        Ok(report)
    }

    async fn cap_reached(
        &self,
        report: &PollReport,
        start: i64,
        end: i64,
        bad: &[Unreadable],
        moved: bool,
    ) -> PollError {
        let window = format!("{} – {}", china_time(start), china_time(end));
        tracing::error!(calls = report.calls, %window, "veapi call cap reached; the rest of this poll waits");
        self.tell_unreadable(bad).await;
        if let Some(a) = &self.alerts {
            if let Err(e) = a.call_cap(report.calls, &window).await {
                tracing::error!(error = %e, "could not record the incident");
            }
        }
        PollError::CallCap {
            calls: report.calls,
            window,
            moved,
        }
    }

    async fn tell_unreadable(&self, bad: &[Unreadable]) {
        if let (Some(a), false) = (&self.alerts, bad.is_empty()) {
            if let Err(e) = a.unreadable_orders(bad).await {
                tracing::error!(error = %e, "could not record the incident");
            }
        }
    }

    async fn poll_window(
        &self,
        start: i64,
        end: i64,
        report: &mut PollReport,
        bad: &mut Vec<Unreadable>,
    ) -> Result<WindowOutcome, PollError> {
        let window = Window {
            start: china_time(start),
            end: china_time(end),
        };
        let before = report.calls;
        let budget = self.settings.max_calls.saturating_sub(before);
        let mut pager = Pager::with_budget(&*self.source, &self.settings, &window, budget);
        let outcome = loop {
            let next = pager.next().await;
            report.calls = before + pager.calls();
            let page = match next? {
                Next::Page(page) => page,
                Next::Done if pager.circled() => break WindowOutcome::ReadAgain,
                Next::Done => break WindowOutcome::Done,
                Next::TooManyPages => break WindowOutcome::TooManyPages,
                Next::CallCap => break WindowOutcome::CallCap,
            };
            report.pages += 1;
            report.unreadable += page.unreadable.len();
            bad.extend(page.unreadable.iter().cloned());
            let issued = self
                .store
                .issued_values(&legacy_candidates(&page.orders))
                .await?;
            let items = to_ingest(&page.orders, &issued);
            let stats = self
                .store
                .ingest_page_at(&items, Utc::now().timestamp(), self.settings.rebate_percent)
                .await?;
            report.stats.orders += stats.orders;
            report.stats.new_orders += stats.new_orders;
            metrics::counter!(crate::http::metrics::ORDERS_INGESTED)
                .increment(stats.new_orders as u64);
            report.stats.new_notices += stats.new_notices;
            // Deliver as soon as a page is stored, not after a long catch-up.
            if stats.new_notices > 0 {
                self.wake.notify_one();
            }
        };
        Ok(outcome)
    }
}

/// What [`Pager::next`] found.
#[derive(Debug)]
pub enum Next {
    Page(OrdersPage),
    Done,
    /// More than `max_pages` pages: the caller may split the window.
    TooManyPages,
    /// The pager's call budget is spent.
    CallCap,
}

/// Walks every page of a window: the first page without a cursor, then each returned cursor.
/// The window is done at a page without a cursor (none, `""`, `"0"`), at an empty page or
/// one shorter than the `size` asked for, whatever its cursor says, at a cursor already
/// seen, and at a page that brings no order id the window had not brought already. More than `max_pages` pages, or a spent call budget, is reported, never skipped.
pub struct Pager<'a> {
    source: &'a dyn OrderSource,
    settings: &'a PollerSettings,
    window: &'a Window,
    cursor: Option<String>,
    seen: HashSet<String>,
    /// Order ids this window has brought so far: a page with none new is a cursor going in
    /// a circle (upstream re-serving the same page under new cursors).
    orders: HashSet<String>,
    /// The window ended at a page with nothing new: not known to be read to its end.
    circled: bool,
    pages: usize,
    calls: usize,
    budget: usize,
    done: bool,
}

impl<'a> Pager<'a> {
    /// A pager that may make `settings.max_calls` calls.
    pub fn new(
        source: &'a dyn OrderSource,
        settings: &'a PollerSettings,
        window: &'a Window,
    ) -> Self {
        Self::with_budget(source, settings, window, settings.max_calls)
    }

    /// A pager that may make `budget` calls, retries included.
    pub fn with_budget(
        source: &'a dyn OrderSource,
        settings: &'a PollerSettings,
        window: &'a Window,
        budget: usize,
    ) -> Self {
        Pager {
            source,
            settings,
            window,
            cursor: None,
            seen: HashSet::new(),
            orders: HashSet::new(),
            circled: false,
            pages: 0,
            calls: 0,
            budget,
            done: false,
        }
    }

    /// Whether the window ended at a page with nothing new, so may not have been read to
    /// its end.
    pub fn circled(&self) -> bool {
        self.circled
    }

    /// Calls made so far, retries included.
    pub fn calls(&self) -> usize {
        self.calls
    }

    pub async fn next(&mut self) -> Result<Next, VeapiError> {
        if self.done {
            return Ok(Next::Done);
        }
        if self.pages >= self.settings.max_pages {
            return Ok(Next::TooManyPages);
        }
        if self.calls >= self.budget {
            return Ok(Next::CallCap);
        }
        let page = page_with_retries(
            self.source,
            self.settings,
            self.window,
            self.cursor.as_deref(),
            &mut self.calls,
            self.budget,
        )
        .await?;
        let Some(page) = page else {
            return Ok(Next::CallCap);
        };
        self.pages += 1;
        for bad in &page.unreadable {
            tracing::error!(window = ?self.window, problem = %bad, "an order could not be read");
        }
        let mut brought_new = false;
        for o in &page.orders {
            brought_new |= self.orders.insert(o.order_id.clone());
        }
        for u in &page.unreadable {
            // Without an id it cannot be told apart from a new one.
            brought_new |= u
                .order_id
                .as_ref()
                .is_none_or(|id| self.orders.insert(id.clone()));
        }
        match &page.cursor {
            _ if page.is_empty() => self.done = true,
            Some(next) if !brought_new => {
                // Either the cursor goes in a circle, or upstream's order shifted under the
                // pager (a bulk update re-sorting `time_type=update`): stop spending calls, and
                // have the window read again next poll rather than marked read.
                tracing::error!(cursor = %next, window = ?self.window, "a page brought no order this window had not already brought; the window is read again next poll");
                self.done = true;
                self.circled = true;
            }
            Some(next)
                if page.len() < self.source.page_size() && self.source.short_page_is_last() =>
            {
                // Upstream fills every page but the last; logged in case that ever changes.
                tracing::warn!(cursor = %next, size = page.len(), window = ?self.window, "a short page came with a cursor; ending the window here");
                self.done = true;
            }
            _ if page.len() < self.source.page_size() && self.source.short_page_is_last() => {
                self.done = true
            }
            None => self.done = true,
            Some(next) if !self.seen.insert(next.clone()) => {
                tracing::warn!(cursor = %next, "cursor repeated; ending the window here");
                self.done = true;
            }
            Some(next) => self.cursor = Some(next.clone()),
        }
        Ok(Next::Page(page))
    }
}

/// One page, retried while the failure is transient and the budget lasts; `None` when the
/// budget ran out between retries.
async fn page_with_retries(
    source: &dyn OrderSource,
    settings: &PollerSettings,
    window: &Window,
    cursor: Option<&str>,
    calls: &mut usize,
    budget: usize,
) -> Result<Option<OrdersPage>, VeapiError> {
    let mut attempt = 0;
    loop {
        *calls += 1;
        match source.page(window, cursor).await {
            Err(e) if e.class().is_transient() && attempt < settings.page_retries => {
                if *calls >= budget {
                    return Ok(None);
                }
                attempt += 1;
                let wait = settings.retry_delay
                    * if e.class() == ErrorClass::Throttled {
                        2 * attempt
                    } else {
                        attempt
                    };
                tracing::debug!(error = %e, attempt, "orders page failed; retrying");
                tokio::time::sleep(wait).await;
            }
            other => return other.map(Some),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowOutcome {
    Done,
    /// Paging stopped before the window was known to be read to its end: hold it, read it
    /// again next poll.
    ReadAgain,
    TooManyPages,
    CallCap,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn china_time_round_trips() {
        assert_eq!(china_time(0), "1970-01-01 08:00:00");
        assert_eq!(parse_china_time("1970-01-01 08:00:00"), Some(0));
        assert_eq!(parse_china_time("2024-02-30 00:00:00"), None);
        // 2026-05-31 16:00:00 UTC is midnight in China: the next day there.
        let day = |s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(china_date(1_780_243_199), day("2026-05-31"));
        assert_eq!(china_date(1_780_243_200), day("2026-06-01"));
    }
}
