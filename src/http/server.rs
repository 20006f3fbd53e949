//! The routes and the server loop: which path does what, and a shutdown that stops
//! accepting and lets requests in progress finish (in webhook mode every update acknowledged
//! before the stop is in the dispatcher's channel when it returns).

use super::health::{healthz, readyz};
use super::metrics::{scrape, MetricsState};
use super::webhook::{receive, WebhookState, MAX_BODY};
use crate::store::Store;
use crate::veapi::Provider;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The webhook route: where Telegram posts (the path of WEBHOOK_URL) and what takes it.
pub struct WebhookRoute {
    pub path: String,
    pub state: WebhookState,
}

/// `/healthz`, `/readyz`, `/metrics`, and in webhook mode the webhook's path.
pub fn router(
    store: Store,
    provider: Provider,
    metrics: Option<PrometheusHandle>,
    webhook: Option<WebhookRoute>,
) -> Router {
    let mut app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz).with_state(store.clone()))
        .route(
            "/metrics",
            get(scrape).with_state(MetricsState {
                handle: metrics,
                store,
                provider,
            }),
        );
    if let Some(hook) = webhook {
        app = app.route(
            &hook.path,
            post(receive)
                .with_state(hook.state)
                .layer(DefaultBodyLimit::max(MAX_BODY)),
        );
    }
    app
}

/// Binds `addr` (the error names it, for the operator).
pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

/// Serves `app` on `listener` until `stop` resolves, then stops accepting and returns once
/// the requests in progress are answered.
pub fn serve(
    listener: TcpListener,
    app: Router,
    stop: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<io::Result<()>> {
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
    })
}
