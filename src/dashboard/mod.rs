//! The operator's dashboard, served by the bot's own HTTP server under `/dashboard` when
//! `PUBLIC_URL` is set: the figures of `/stats` over time, with charts, the ledger, the
//! notification queue (and a retry for parked messages), incidents and the poller.
//!
//! The only way in is a link the bot hands an operator for `/dashboard` ([`auth`]). Every
//! answer, refusals included, carries `Cache-Control: no-store`, `Referrer-Policy:
//! same-origin`, `X-Frame-Options: DENY`, `X-Content-Type-Options: nosniff` and a
//! Content-Security-Policy that allows no script at all and only the page's own stylesheet
//! (by its hash). Refusals show no data: 401 without a live session, 403 for a token or
//! session that is not (or no longer) an operator's and for a POST without the session's
//! CSRF token, 400 for a range out of bounds, 404 for an unknown message.
//!
//! Routes: `GET /dashboard[?days=7|30|90]`, `GET /dashboard/login?t=…` (303 to the page),
//! `POST /dashboard/outbox/{id}/retry`, `POST /dashboard/logout`, `GET
//! /dashboard/orders.csv?from=…&to=…`, `GET /dashboard/ledger.csv?from=…&to=…`.

pub mod auth;
mod csv;
mod page;
mod range;
mod svg;
mod words;

use crate::store::{DashboardSession, Retry, Store, StoreError};
use crate::veapi::Provider;
use auth::{Refused, PATH};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use once_cell::sync::Lazy;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio::sync::Notify;
use url::Url;

/// Rows of each top list.
const TOP_ROWS: i64 = 10;
/// Payouts and parked messages listed, at most.
const LIST_ROWS: i64 = 50;
/// A form's body at most (a CSRF token and little else).
const MAX_FORM: usize = 4096;

/// What the dashboard's routes need.
#[derive(Clone)]
pub struct DashboardState {
    pub store: Store,
    /// `ADMIN_USER_IDS`: whose sessions count.
    pub admins: Arc<Vec<u64>>,
    /// `PUBLIC_URL`: the origin a form may be posted from, and whether cookies are Secure.
    pub public_url: Url,
    /// Whose poll watermark the lag is read from.
    pub provider: Provider,
    /// Wakes the notifier when a parked message is due again.
    pub wake: Option<Arc<Notify>>,
}

impl DashboardState {
    fn secure(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

/// HTML-escapes text for an element or a quoted attribute.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The Content-Security-Policy: nothing but the page's stylesheet, forms to this site only.
static CSP: Lazy<String> = Lazy::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(page::STYLE));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    )
});

/// The dashboard's routes.
pub fn router(state: DashboardState) -> Router {
    Router::new()
        .route(PATH, get(show))
        .route(&format!("{PATH}/login"), get(login))
        .route(&format!("{PATH}/logout"), post(logout))
        .route(&format!("{PATH}/outbox/{{id}}/retry"), post(retry))
        .route(&format!("{PATH}/orders.csv"), get(orders_csv))
        .route(&format!("{PATH}/ledger.csv"), get(ledger_csv))
        .layer(DefaultBodyLimit::max(MAX_FORM))
        .layer(axum::middleware::map_response(guard_headers))
        .with_state(state)
}

/// The headers every dashboard answer carries.
async fn guard_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        // Not `no-referrer`: under it browsers post forms with `Origin: null`. Other sites
        // still learn nothing (the login token is gone from the address by the 303).
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(csp) = HeaderValue::from_str(&CSP) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    res
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn refused(why: Refused) -> Response {
    match why {
        Refused::NoSession => html(
            StatusCode::UNAUTHORIZED,
            page::notice(
                "未登录或登录已过期。请私聊机器人发送 /dashboard 获取新的链接（如果刚刚打开过链接，请点下面的链接）。",
                "Not signed in, or the session is over. Send /dashboard to the bot in a private chat for a new link (if you just opened one, follow the link below).",
                true,
            ),
        ),
        Refused::Forbidden => html(
            StatusCode::FORBIDDEN,
            page::notice(
                "此链接无效、已过期或已被使用，或者你不再是管理员。请私聊机器人发送 /dashboard 获取新的链接。",
                "This link is invalid, expired or already used, or you are no longer an operator. Send /dashboard to the bot in a private chat for a new link.",
                false,
            ),
        ),
    }
}

fn bad_request(why: &str) -> Response {
    html(
        StatusCode::BAD_REQUEST,
        page::notice(
            &format!("参数错误：{why}"),
            &format!("Bad request: {why}"),
            false,
        ),
    )
}

fn failed(e: StoreError) -> Response {
    tracing::error!(error = %e, "dashboard: the store failed");
    html(
        StatusCode::INTERNAL_SERVER_ERROR,
        page::notice(
            "暂时无法读取数据，请稍后再试。",
            "The store cannot be read now; try again later.",
            false,
        ),
    )
}

fn see_other(location: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The request's operator session, or the answer that refuses it.
async fn signed_in(
    s: &DashboardState,
    headers: &HeaderMap,
) -> Result<(String, DashboardSession), Response> {
    match auth::session(&s.store, &s.admins, headers, now()).await {
        Ok(Ok(found)) => Ok(found),
        Ok(Err(why)) => Err(refused(why)),
        Err(e) => Err(failed(e)),
    }
}

/// A POST's checks beyond the session: sent from this site (when the browser says where
/// from), carrying the session's CSRF token.
fn post_allowed(
    s: &DashboardState,
    headers: &HeaderMap,
    body: &[u8],
    session: &DashboardSession,
) -> bool {
    // A browser that will not say where from sends `null` (a privacy setting, or a policy
    // that strips it): the CSRF token alone decides then. A site that says it is another
    // site is refused whatever it carries.
    if let Some(origin) = headers.get(header::ORIGIN) {
        let ours = s.public_url.origin().ascii_serialization();
        if origin.as_bytes() != b"null" && origin.as_bytes() != ours.as_bytes() {
            return false;
        }
    }
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "csrf")
        .is_some_and(|(_, v)| auth::same(&v, &session.csrf))
}

/// `GET /dashboard/login?t=<token>`: the token used up, a session started, and a page that
/// moves on to the dashboard by itself ([`page::opening`]; the token, used up, is worth
/// nothing in the history or a same-origin Referer).
async fn login(State(s): State<DashboardState>, method: Method, uri: Uri) -> Response {
    // axum answers HEAD with the GET route: a link checker or a preview fetcher asking HEAD
    // would use the one-time token up before the operator opened it.
    if method == Method::HEAD {
        let mut res = StatusCode::METHOD_NOT_ALLOWED.into_response();
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return res;
    }
    let token = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "t")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    match auth::login(&s.store, &s.admins, &token, now()).await {
        Ok(Ok(new)) => {
            tracing::info!(
                user_id = new.session.user_id,
                "dashboard: an operator signed in"
            );
            let mut res = html(StatusCode::OK, page::opening());
            if let Ok(cookie) = HeaderValue::from_str(&auth::set_cookie(&new.id, s.secure())) {
                res.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            res
        }
        Ok(Err(why)) => {
            tracing::warn!("dashboard: a login link was refused (unknown, expired or used)");
            refused(why)
        }
        Err(e) => failed(e),
    }
}

/// `POST /dashboard/logout`: the session ended, the cookie cleared.
async fn logout(State(s): State<DashboardState>, headers: HeaderMap, body: Bytes) -> Response {
    let (id, session) = match signed_in(&s, &headers).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    if !post_allowed(&s, &headers, &body, &session) {
        return refused(Refused::Forbidden);
    }
    if let Err(e) = s.store.end_dashboard_session(&auth::hash(&id)).await {
        return failed(e);
    }
    let mut res = see_other(PATH);
    if let Ok(cookie) = HeaderValue::from_str(&auth::clear_cookie(s.secure())) {
        res.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    res
}

/// `GET /dashboard[?days=N]`.
async fn show(State(s): State<DashboardState>, headers: HeaderMap, uri: Uri) -> Response {
    let (_, session) = match signed_in(&s, &headers).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let days = match range::page_days(uri.query()) {
        Ok(d) => d,
        Err(e) => return bad_request(e.0),
    };
    match gather(&s, days, now()).await {
        Ok(report) => html(
            StatusCode::OK,
            page::render(auth::lang(&session), &report, &session.csrf),
        ),
        Err(e) => failed(e),
    }
}

async fn gather(s: &DashboardState, days: u32, now: i64) -> Result<page::Report, StoreError> {
    let store = &s.store;
    let (from, to) = range::last_days(crate::store::china_day(now), days);
    let watermark = store
        .kv_get(&crate::poller::watermark_key(s.provider))
        .await?
        .and_then(|w| w.parse().ok());
    let clock = store.clock().await?;
    Ok(page::Report {
        days,
        from,
        to,
        series: store.daily(from, to).await?,
        products: store.top_products(from, to, TOP_ROWS).await?,
        users: store.top_users(from, to, TOP_ROWS).await?,
        groups: store.top_groups(from, to, TOP_ROWS).await?,
        ledger: store.ledger_totals().await?,
        payouts: store.recent_payouts(LIST_ROWS).await?,
        outbox: store.outbox_counts().await?,
        parked: store.parked_rows(LIST_ROWS).await?,
        incidents: store.open_incidents().await?,
        watermark,
        poller: store.lease_holder(crate::lease::POLLER, clock).await?,
        instances: store.leases_held("instance:", clock).await?,
        now,
    })
}

/// `POST /dashboard/outbox/{id}/retry` with the session's CSRF token: a parked message due
/// again, 303 back to the page.
async fn retry(
    State(s): State<DashboardState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (_, session) = match signed_in(&s, &headers).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let not_found = || {
        html(
            StatusCode::NOT_FOUND,
            page::notice("没有这条搁置的消息。", "No such parked message.", true),
        )
    };
    if !post_allowed(&s, &headers, &body, &session) {
        tracing::warn!("dashboard: a retry without the session's CSRF token refused");
        return refused(Refused::Forbidden);
    }
    // Read after the session and the CSRF token: who may not post learns nothing from it.
    let Ok(id) = id.parse::<i64>() else {
        return not_found();
    };
    match s.store.retry_parked(id, now()).await {
        Ok(Retry::Due) => {
            tracing::info!(
                outbox_id = id,
                operator = session.user_id,
                "dashboard: parked message due again"
            );
            if let Some(wake) = &s.wake {
                wake.notify_one();
            }
            see_other(PATH)
        }
        Ok(Retry::BeingSent) => html(
            StatusCode::CONFLICT,
            page::notice(
                "这条消息正在发送中，请稍后刷新页面查看结果。",
                "This message is being sent right now: reload the page in a moment.",
                true,
            ),
        ),
        Ok(Retry::NotParked) => not_found(),
        Err(e) => failed(e),
    }
}

fn attachment(name: String, body: String) -> Response {
    let disposition = format!("attachment; filename=\"{name}\"");
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

/// `GET /dashboard/orders.csv?from=YYYY-MM-DD&to=YYYY-MM-DD`.
async fn orders_csv(State(s): State<DashboardState>, headers: HeaderMap, uri: Uri) -> Response {
    if let Err(res) = signed_in(&s, &headers).await {
        return res;
    }
    let (from, to) = match range::csv_range(uri.query()) {
        Ok(r) => r,
        Err(e) => return bad_request(e.0),
    };
    match s.store.orders_between(from, to).await {
        Ok(rows) => attachment(format!("orders-{from}-{to}.csv"), csv::orders(&rows)),
        Err(e) => failed(e),
    }
}

/// `GET /dashboard/ledger.csv?from=YYYY-MM-DD&to=YYYY-MM-DD`.
async fn ledger_csv(State(s): State<DashboardState>, headers: HeaderMap, uri: Uri) -> Response {
    if let Err(res) = signed_in(&s, &headers).await {
        return res;
    }
    let (from, to) = match range::csv_range(uri.query()) {
        Ok(r) => r,
        Err(e) => return bad_request(e.0),
    };
    match s.store.ledger_between(from, to).await {
        Ok(lines) => attachment(format!("ledger-{from}-{to}.csv"), csv::ledger(&lines)),
        Err(e) => failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_attributes_too() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn the_policy_allows_no_script_and_only_the_pages_style() {
        assert!(CSP.starts_with("default-src 'none'; style-src 'sha256-"));
        assert!(!CSP.contains("script-src") && !CSP.contains("unsafe"));
    }
}
