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

/// `GET /readyz`: 200 when the store answers, else 503 (the reason is logged, not shown).
pub async fn readyz(State(store): State<Store>) -> (StatusCode, &'static str) {
    match store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the store does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n")
        }
    }
}
