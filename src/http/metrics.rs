//! Every metric the bot exports, named and described in one place, and the Prometheus
//! recorder that `/metrics` renders.
//!
//! Code anywhere records through the `metrics` facade with the names below; the facade's
//! macros do nothing until a recorder is installed, so instrumented code costs nothing in
//! tests or commands that never start the HTTP server. The recorder is global to the
//! process: it is installed once, and every bot started in the same process (tests start
//! several) renders the same one.

use crate::store::Store;
use ::metrics::{describe_counter, describe_gauge, describe_histogram, gauge, Unit};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use once_cell::sync::OnceCell;

/// Updates the dispatcher took, by `kind` (`message`, `edited_message`, …, `other`).
pub const UPDATES_HANDLED: &str = "dlb_updates_handled_total";
/// Updates delivered again (webhook mode) and dropped as repeats.
pub const UPDATES_DUPLICATE: &str = "dlb_updates_duplicate_total";
/// Conversions asked for, by `outcome`.
pub const CONVERSIONS: &str = "dlb_conversions_total";
/// Seconds one veapi call took, by `endpoint` (its path).
pub const VEAPI_CALL_SECONDS: &str = "dlb_veapi_call_seconds";
/// Orders stored for the first time by the poller.
pub const ORDERS_INGESTED: &str = "dlb_orders_ingested_total";
/// Outbox messages still to deliver, at the last scrape.
pub const OUTBOX_PENDING: &str = "dlb_outbox_pending";
/// Outbox messages given up on or held until the user's /start, at the last scrape.
pub const OUTBOX_PARKED: &str = "dlb_outbox_parked";
/// Order notifications delivered.
pub const NOTIFICATIONS_SENT: &str = "dlb_notifications_sent_total";
/// Seconds between now and the poller's watermark, after each poll.
pub const POLL_LAG_SECONDS: &str = "dlb_poll_lag_seconds";
/// 1 while this instance runs the order poller.
pub const POLLER_HOLDER: &str = "dlb_poller_holder";

/// Latency buckets of veapi calls, in seconds (a call is capped at VEAPI_TIMEOUT_SECS).
const VEAPI_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

static HANDLE: OnceCell<Option<PrometheusHandle>> = OnceCell::new();

/// Installs the process's Prometheus recorder (the first call does; later ones return the
/// same handle) and describes every metric. None when another recorder was installed first
/// by something else in the process: then `/metrics` answers 503.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(VEAPI_CALL_SECONDS.to_string()),
                    VEAPI_BUCKETS,
                )
                .expect("the bucket list is not empty")
                .install_recorder();
            match recorder {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot install the metrics recorder; /metrics is off");
                    None
                }
            }
        })
        .clone()
}

fn describe() {
    describe_counter!(
        UPDATES_HANDLED,
        "Telegram updates the dispatcher took, by kind"
    );
    describe_counter!(
        UPDATES_DUPLICATE,
        "Webhook updates delivered again and dropped as repeats"
    );
    describe_counter!(
        CONVERSIONS,
        "Conversions asked for, by outcome (converted, cached, or the refusal's class)"
    );
    describe_histogram!(
        VEAPI_CALL_SECONDS,
        Unit::Seconds,
        "Time one veapi call took, by endpoint"
    );
    describe_counter!(
        ORDERS_INGESTED,
        "Orders the poller stored for the first time"
    );
    describe_gauge!(OUTBOX_PENDING, "Order notifications still to deliver");
    describe_gauge!(
        OUTBOX_PARKED,
        "Order notifications given up on or held until the user's /start"
    );
    describe_counter!(NOTIFICATIONS_SENT, "Order notifications delivered");
    describe_gauge!(
        POLL_LAG_SECONDS,
        Unit::Seconds,
        "Seconds between now and the order poller's watermark, after each poll"
    );
    describe_gauge!(POLLER_HOLDER, "1 while this instance runs the order poller");
}

/// Whether this instance runs the order poller (the poller lease calls this when it gains
/// or loses the lease).
pub fn set_poller_holder(holds: bool) {
    gauge!(POLLER_HOLDER).set(if holds { 1.0 } else { 0.0 });
}

/// What `/metrics` needs: the recorder's handle and the store the outbox gauges are read from.
#[derive(Clone)]
pub struct MetricsState {
    pub handle: Option<PrometheusHandle>,
    pub store: Store,
    /// Whose watermark the poll lag is read from.
    pub provider: crate::veapi::Provider,
}

/// `GET /metrics`: the Prometheus text format, outbox gauges read fresh from the store.
pub async fn scrape(State(state): State<MetricsState>) -> Response {
    let Some(handle) = state.handle else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder not installed\n",
        )
            .into_response();
    };
    match state.store.outbox_counts().await {
        Ok(c) => {
            gauge!(OUTBOX_PENDING).set(c.pending as f64);
            gauge!(OUTBOX_PARKED).set(c.parked as f64);
        }
        // The rest is still worth reading; /readyz says the store is down.
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count the outbox"),
    }
    // Read here, not set by the poller: every instance reports it (only one polls), and a
    // poller that fails or hangs shows a growing lag instead of its last good one.
    let key = crate::poller::watermark_key(state.provider);
    match state.store.kv_get(&key).await {
        Ok(Some(w)) => {
            if let Ok(w) = w.parse::<i64>() {
                let lag = (chrono::Utc::now().timestamp() - w).max(0);
                gauge!(POLL_LAG_SECONDS).set(lag as f64);
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the poll watermark"),
    }
    handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}
