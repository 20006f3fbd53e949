//! Telling the operators: once when something they must know about starts (authorization
//! expired, key exhausted, repeated failures), once more when it is over.
//!
//! An incident is remembered in the store, so a restart in the middle of one neither repeats
//! the alert nor forgets to announce the recovery. Alerts travel through the outbox like any
//! other message, to each admin's private chat.

use crate::events::{AlertSource, Event};
use crate::store::{Notice, Store, StoreError};
use crate::veapi::{ErrorClass, Unreadable, VeapiError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// Consecutive transient failures after which the operators hear about it.
pub const REPEATED_FAILURES: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Orders,
    Conversion,
    /// Orders that upstream sent but that could not be read: their window is held.
    UnreadableOrders,
    /// A poll that hit its cap on veapi calls: the rest waits for the next poll.
    OrderPaging,
}

const SOURCES: [Source; 4] = [
    Source::Orders,
    Source::Conversion,
    Source::UnreadableOrders,
    Source::OrderPaging,
];

impl Source {
    fn key(self) -> &'static str {
        match self {
            Source::Orders => "orders",
            Source::Conversion => "conversion",
            Source::UnreadableOrders => "orders_unreadable",
            Source::OrderPaging => "orders_paging",
        }
    }

    fn event(self) -> AlertSource {
        match self {
            Source::Orders => AlertSource::Orders,
            Source::Conversion => AlertSource::Conversion,
            Source::UnreadableOrders => AlertSource::UnreadableOrders,
            Source::OrderPaging => AlertSource::OrderPaging,
        }
    }
}

#[derive(Clone)]
pub struct Alerts {
    store: Store,
    admins: Arc<Vec<u64>>,
    wake: Arc<Notify>,
    // Mirrors of the stored incidents (one per `Source`), so the success path costs no query.
    open: Arc<[AtomicBool; 4]>,
}

impl Alerts {
    pub async fn new(
        store: Store,
        admins: Vec<u64>,
        wake: Arc<Notify>,
    ) -> Result<Self, StoreError> {
        let open: [AtomicBool; 4] = Default::default();
        for source in SOURCES {
            let stored = store.kv_get(&incident_key(source)).await?.is_some();
            open[source as usize].store(stored, Ordering::Relaxed);
        }
        Ok(Alerts {
            store,
            admins: Arc::new(admins),
            wake,
            open: Arc::new(open),
        })
    }

    /// Whether any incident is open (for `/stats`).
    pub fn any_open(&self) -> bool {
        self.open.iter().any(|f| f.load(Ordering::Relaxed))
    }

    fn flag(&self, source: Source) -> &AtomicBool {
        &self.open[source as usize]
    }

    /// Records a failure; `consecutive` counts this one. Opens an incident (and alerts) when
    /// an operator must act, or when transient failures keep coming.
    pub async fn failed(
        &self,
        source: Source,
        err: &VeapiError,
        consecutive: u32,
    ) -> Result<(), StoreError> {
        let class = err.class();
        let must_act = matches!(
            class,
            ErrorClass::Authorization | ErrorClass::KeyOrQuota | ErrorClass::Unexpected
        );
        if self.flag(source).load(Ordering::Acquire)
            || !(must_act || (source == Source::Orders && consecutive >= REPEATED_FAILURES))
        {
            return Ok(());
        }
        let now = chrono::Utc::now().timestamp();
        let msg = err
            .upstream_msg()
            .map_or_else(|| err.to_string(), str::to_string);
        tracing::error!(source = source.key(), error = %err, "incident opened; telling the operators");
        self.store
            .kv_set(&incident_key(source), &now.to_string(), now)
            .await?;
        self.flag(source).store(true, Ordering::Release);
        let event = Event::AlertOpened {
            source: source.event(),
            class: class.into(),
            detail: msg,
        };
        self.tell_admins(&format!("alert:{}:{now}:open", source.key()), event, now)
            .await
    }

    /// Orders upstream sent that could not be read: one message per order and incident
    /// (its id and the reason), however many polls meet it again.
    pub async fn unreadable_orders(&self, bad: &[Unreadable]) -> Result<(), StoreError> {
        if bad.is_empty() {
            return Ok(());
        }
        let since = self.open_quietly(Source::UnreadableOrders).await?;
        let now = chrono::Utc::now().timestamp();
        for b in bad {
            let id = b.order_id.as_deref().unwrap_or("?");
            let event = Event::UnreadableOrder {
                order_id: id.to_string(),
                reason: b.reason.clone(),
            };
            self.tell_admins(&format!("alert:orders_unreadable:{since}:{id}"), event, now)
                .await?;
        }
        Ok(())
    }

    /// A poll stopped at its cap on veapi calls: said once per incident.
    pub async fn call_cap(&self, calls: usize, window: &str) -> Result<(), StoreError> {
        if self.flag(Source::OrderPaging).load(Ordering::Acquire) {
            return Ok(());
        }
        let since = self.open_quietly(Source::OrderPaging).await?;
        let event = Event::CallCap {
            calls,
            window: window.to_string(),
        };
        self.tell_admins(&format!("alert:orders_paging:{since}:open"), event, since)
            .await
    }

    /// Opens `source`'s incident unless it is open; returns when it was opened.
    async fn open_quietly(&self, source: Source) -> Result<i64, StoreError> {
        if let Some(since) = self
            .store
            .kv_get(&incident_key(source))
            .await?
            .and_then(|v| v.parse().ok())
        {
            return Ok(since);
        }
        let now = chrono::Utc::now().timestamp();
        tracing::error!(
            source = source.key(),
            "incident opened; telling the operators"
        );
        self.store
            .kv_set(&incident_key(source), &now.to_string(), now)
            .await?;
        self.flag(source).store(true, Ordering::Release);
        Ok(now)
    }

    /// Records a success; closes an open incident (and says so).
    pub async fn succeeded(&self, source: Source) -> Result<(), StoreError> {
        if !self.flag(source).load(Ordering::Acquire) {
            return Ok(());
        }
        let now = chrono::Utc::now().timestamp();
        let since = self
            .store
            .kv_get(&incident_key(source))
            .await?
            .unwrap_or_default();
        tracing::info!(
            source = source.key(),
            "incident over; telling the operators"
        );
        self.tell_admins(
            &format!("alert:{}:{since}:recovered", source.key()),
            Event::AlertRecovered {
                source: source.event(),
            },
            now,
        )
        .await?;
        self.store.kv_delete(&incident_key(source)).await?;
        self.flag(source).store(false, Ordering::Release);
        Ok(())
    }

    async fn tell_admins(&self, key: &str, event: Event, now: i64) -> Result<(), StoreError> {
        if self.admins.is_empty() {
            tracing::warn!("no ADMIN_USER_IDS configured: nobody to alert");
        }
        for admin in self.admins.iter() {
            let notice = Notice {
                dedupe_key: format!("{key}:{admin}"),
                event: event.clone(),
            };
            self.store.enqueue_private(&notice, *admin, now).await?;
        }
        self.wake.notify_one();
        Ok(())
    }
}

fn incident_key(source: Source) -> String {
    format!("incident:{}", source.key())
}
