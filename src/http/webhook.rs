//! Webhook mode's way in: Telegram POSTs each update here; it is checked, taken once (by
//! `update_id`, in the store, so a repeat delivery to any instance is dropped), and handed
//! to teloxide's dispatcher through a channel, answered 200 before it is handled.
//!
//! Nothing reaches the dispatcher that lacks the secret header (401), is larger than
//! [`MAX_BODY`] (413) or is not an update (400). A store failure while taking it answers
//! 500, so Telegram delivers it again. An instance that takes no more for now (its backlog
//! full, its updates in hand at their bound, or stopping) answers 503 with `Retry-After:`
//! [`RETRY_AFTER_SECS`]: Telegram's Bot API server then tries that update again after that
//! many seconds instead of backing off exponentially to a minute or two
//! (tdlib/telegram-bot-api `WebhookActor::on_update_error`, which reads `Retry-After`).

use crate::http::metrics::UPDATES_DUPLICATE;
use crate::secret::Secret;
use crate::store::Store;
use crate::telegram::detach::Detach;
use crate::telegram::ALLOWED_UPDATES;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::stream::BoxStream;
use futures::StreamExt;
use std::convert::Infallible;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use teloxide::stop::{mk_stop_token, StopFlag, StopToken};
use teloxide::types::{AllowedUpdate, Update};
use teloxide::update_listeners::{AsUpdateStream, UpdateListener};
use tokio::sync::mpsc;

/// Largest update body taken. Telegram's updates are a few KiB; a message's text is at most
/// 4096 characters.
pub const MAX_BODY: usize = 1024 * 1024;

/// The header Telegram sends `secret_token` in (setWebhook).
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// How long `update_id`s are remembered: Telegram stops retrying an update long before.
const SEEN_FOR_SECS: i64 = 24 * 3600;
/// Updates acknowledged but not yet taken by the dispatcher, at most. Past it the webhook
/// answers 503 before recording the update, so Telegram delivers it again later, here or
/// to another instance, instead of this process queueing without bound.
const BACKLOG: usize = 1024;
/// How often old `update_id`s are pruned.
const PRUNE_EVERY_SECS: i64 = 3600;

/// What the webhook route needs.
#[derive(Clone)]
pub struct WebhookState {
    secret: Secret,
    store: Store,
    tx: mpsc::Sender<Update>,
    /// The updates in hand: when their bound is reached, this instance takes no more.
    detach: Detach,
    last_prune: Arc<AtomicI64>,
}

/// The route's state and the dispatcher's listener, joined by one channel.
pub fn channel(secret: Secret, store: Store, detach: Detach) -> (WebhookState, WebhookListener) {
    let (tx, rx) = mpsc::channel(BACKLOG);
    let (token, flag) = mk_stop_token();
    let state = WebhookState {
        secret,
        store,
        tx,
        detach,
        last_prune: Arc::new(AtomicI64::new(0)),
    };
    (
        state,
        WebhookListener {
            rx,
            token,
            flag,
            stopping: false,
        },
    )
}

/// Compares without stopping at the first difference, so response timing does not tell an
/// attacker how much of a guessed secret was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `POST <WEBHOOK_URL's path>`.
pub async fn receive(state: State<WebhookState>, req: Request) -> Response {
    let status = take(state, req).await;
    if status == StatusCode::SERVICE_UNAVAILABLE {
        (status, [(header::RETRY_AFTER, RETRY_AFTER_SECS)]).into_response()
    } else {
        status.into_response()
    }
}

/// What Telegram is told to wait before delivering a refused update again, in seconds.
pub const RETRY_AFTER_SECS: &str = "1";

async fn take(State(state): State<WebhookState>, req: Request) -> StatusCode {
    let authorized = req
        .headers()
        .get(SECRET_HEADER)
        .is_some_and(|v| constant_time_eq(v.as_bytes(), state.secret.expose().as_bytes()));
    if !authorized {
        tracing::warn!("webhook request without the right secret refused");
        return StatusCode::UNAUTHORIZED;
    }
    // Only now is the body read, capped by the route's DefaultBodyLimit (413 past it).
    let body = match Bytes::from_request(req, &()).await {
        Ok(b) => b,
        Err(rejection) => {
            tracing::warn!(status = %rejection.status(), "webhook body refused");
            return rejection.status();
        }
    };
    let update: Update = match serde_json::from_slice(&body) {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "webhook body is not an update");
            return StatusCode::BAD_REQUEST;
        }
    };
    let update_id = i64::from(update.id.0);
    // An instance with as many updates in hand as it takes (replies waiting for their
    // Telegram slots) passes the next ones back: Telegram delivers them again later, here or
    // to another instance, rather than this one queueing them behind its own.
    if state.detach.full() {
        tracing::warn!(
            update_id,
            why = "updates in hand at their bound",
            "update not taken; Telegram will deliver it again"
        );
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    // A place in the backlog first: an update recorded as taken must be handed on, or a
    // repeat of it reaching another instance meanwhile would be dropped as already taken.
    let permit = match state.tx.clone().try_reserve_owned() {
        Ok(permit) => permit,
        Err(e) => {
            let why = match e {
                mpsc::error::TrySendError::Full(_) => "backlog full",
                mpsc::error::TrySendError::Closed(_) => "stopping",
            };
            tracing::warn!(
                update_id,
                why,
                "update not taken; Telegram will deliver it again"
            );
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    };
    let now = chrono::Utc::now().timestamp();
    // Recording and handing on run in their own task: if Telegram drops the connection
    // mid-request, the request's future is dropped, and an update recorded as taken but
    // never handed on would be lost (its retry dropped as a repeat).
    let store = state.store.clone();
    let taken = tokio::spawn(async move {
        match store.first_sight_of_update(update_id, now).await {
            Ok(true) => {
                permit.send(update);
                StatusCode::OK
            }
            Ok(false) => {
                tracing::debug!(update_id, "update delivered again; already taken");
                ::metrics::counter!(UPDATES_DUPLICATE).increment(1);
                StatusCode::OK
            }
            Err(e) => {
                tracing::error!(error = %e, update_id, "cannot record an update; Telegram will retry");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    });
    let status = taken.await.unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status != StatusCode::OK {
        return status;
    }
    prune_now_and_then(&state, now);
    StatusCode::OK
}

fn prune_now_and_then(state: &WebhookState, now: i64) {
    let last = state.last_prune.load(Ordering::Relaxed);
    if now - last < PRUNE_EVERY_SECS
        || state
            .last_prune
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    let store = state.store.clone();
    tokio::spawn(async move {
        match store.prune_updates_seen(now - SEEN_FOR_SECS).await {
            Ok(n) => tracing::debug!(pruned = n, "old update ids pruned"),
            Err(e) => tracing::warn!(error = %e, "cannot prune old update ids"),
        }
    });
}

/// The dispatcher's source of updates in webhook mode: what [`receive`] took. Stopping it
/// (the dispatcher's shutdown) ends the stream once everything already taken was handed
/// over, so no acknowledged update is left unhandled.
pub struct WebhookListener {
    rx: mpsc::Receiver<Update>,
    token: StopToken,
    flag: StopFlag,
    stopping: bool,
}

impl WebhookListener {
    async fn next(&mut self) -> Option<Update> {
        if !self.stopping {
            tokio::select! {
                biased;
                update = self.rx.recv() => return update,
                () = &mut self.flag => {
                    // No more sends succeed; what was sent is still read below.
                    self.rx.close();
                    self.stopping = true;
                }
            }
        }
        self.rx.recv().await
    }
}

impl<'a> AsUpdateStream<'a> for WebhookListener {
    type StreamErr = Infallible;
    type Stream = BoxStream<'a, Result<Update, Infallible>>;

    fn as_stream(&'a mut self) -> Self::Stream {
        futures::stream::unfold(self, |l| async move {
            let update = l.next().await?;
            Some((Ok(update), l))
        })
        .boxed()
    }
}

impl UpdateListener for WebhookListener {
    type Err = Infallible;

    fn stop_token(&mut self) -> StopToken {
        self.token.clone()
    }

    /// setWebhook registered [`ALLOWED_UPDATES`] before the dispatcher started; it says here
    /// what its handlers take, and a difference means the two drifted apart.
    fn hint_allowed_updates(&mut self, hint: &mut dyn Iterator<Item = AllowedUpdate>) {
        let mut wanted: Vec<AllowedUpdate> = hint.collect();
        wanted.sort_by_key(|u| format!("{u:?}"));
        let mut registered = ALLOWED_UPDATES.to_vec();
        registered.sort_by_key(|u| format!("{u:?}"));
        if wanted != registered {
            tracing::error!(
                ?wanted,
                ?registered,
                "the handlers take other update kinds than setWebhook asked for; fix telegram::ALLOWED_UPDATES"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(id: u32) -> Update {
        serde_json::from_value(serde_json::json!({
            "update_id": id,
            "message": {
                "message_id": id, "date": 1_700_000_000,
                "chat": {"id": 1, "type": "private", "first_name": "U"},
                "from": {"id": 1, "is_bot": false, "first_name": "U"},
                "text": "hi"
            }
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn stopping_hands_over_everything_taken_then_ends() {
        let store = Store::open("sqlite::memory:").await.unwrap();
        let (state, mut listener) = channel(Secret::new("s"), store, Detach::new());
        for id in 1..=3 {
            state.tx.try_send(update(id)).unwrap();
        }
        let token = listener.stop_token();
        let mut stream = listener.as_stream();
        assert_eq!(stream.next().await.unwrap().unwrap().id.0, 1);
        token.stop();
        let rest: Vec<u32> = stream.map(|u| u.unwrap().id.0).collect().await;
        assert_eq!(rest, vec![2, 3], "taken before the stop: still handled");
        assert!(
            state.tx.try_send(update(4)).is_err(),
            "nothing taken after the stop"
        );
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(constant_time_eq(b"abcdef", b"abcdef"));
        assert!(!constant_time_eq(b"abcdef", b"abcdeg"));
        assert!(!constant_time_eq(b"abcdef", b"abcde"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
