//! Liveness and readiness for an orchestrator or load balancer: `/healthz` says the process
//! answers, `/readyz` that it can do its work (the store answers), so traffic goes only to
//! instances that can serve it.

use crate::store::Store;
use axum::extract::State;
use axum::http::StatusCode;

/// `GET /healthz`: 200 while the process serves HTTP at all.
pub async fn healthz() -> (StatusCode, &'static str) {
    (StatusCode::OK, "ok\n")
}

/// How long `/readyz` waits for the store: a health check must answer in time itself (a
/// database that accepts connections but does not answer would otherwise hold it for the
/// pool's 10 s acquire timeout, past most probes' deadline).
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /readyz`: 200 when the store answers within [`READY_WITHIN`], else 503 (the reason
/// is logged, not shown).
pub async fn readyz(State(store): State<Store>) -> (StatusCode, &'static str) {
    match tokio::time::timeout(READY_WITHIN, store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready: the store does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n")
        }
        Err(_) => {
            tracing::warn!(within = ?READY_WITHIN, "not ready: the store did not answer in time");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n")
        }
    }
}
