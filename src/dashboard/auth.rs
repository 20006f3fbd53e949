//! Who may see the dashboard: an operator who asked the bot for `/dashboard`, with the
//! browser that opened the link.
//!
//! The link carries a one-time token: 32 bytes from the operating system's CSPRNG, in hex.
//! Not an HMAC-signed value: its being used once needs the store anyway, and a random value
//! whose SHA-256 hash is the only copy kept is as unforgeable as a signature without a key to
//! guard. The token is bound to the operator's user id, valid [`TOKEN_SECS`], and consumed by
//! one conditional UPDATE, so a second use (on any instance) finds nothing. It becomes a
//! session: another 32 random bytes in an HttpOnly, SameSite=Strict cookie (Secure when
//! `PUBLIC_URL` is https) lasting [`SESSION_SECS`], kept as a hash beside the session's CSRF
//! token and language. Every request checks that the session's user is an operator still
//! (`ADMIN_USER_IDS` as this instance was started with).

use crate::lang::Lang;
use crate::store::{DashboardSession, Store, StoreError};
use axum::http::{header, HeaderMap};
use sha2::{Digest, Sha256};
use url::Url;

/// How long a login link works.
pub const TOKEN_SECS: i64 = 10 * 60;
/// How long a session lasts.
pub const SESSION_SECS: i64 = 12 * 3600;
/// The session cookie's name.
pub const COOKIE: &str = "dlb_dash";
/// Where the dashboard lives on the bot's HTTP server (and the cookie's path).
pub const PATH: &str = "/dashboard";

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No session: no cookie, an unknown or expired one (401).
    NoSession,
    /// A session whose user is no longer an operator, or a token that is not (or no
    /// longer) valid (403).
    Forbidden,
}

/// `n` random bytes from the operating system, in lowercase hex.
fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    hex(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the store keeps of a token or session id.
pub fn hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Whether `s` has the shape of a value [`random_hex`] made (32 bytes): anything else is
/// refused before the store is asked.
fn well_formed(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Compares without stopping at the first difference.
pub fn same(a: &str, b: &str) -> bool {
    crate::http::webhook::constant_time_eq(a.as_bytes(), b.as_bytes())
}

/// A login token for operator `user_id`, valid from `now` for [`TOKEN_SECS`].
pub async fn issue(store: &Store, user_id: u64, now: i64) -> Result<String, StoreError> {
    let token = random_hex(32);
    store
        .add_dashboard_token(&hash(&token), user_id, now, now + TOKEN_SECS)
        .await?;
    Ok(token)
}

/// The link an operator is handed: `PUBLIC_URL` + `/dashboard/login?t=<token>`.
pub fn login_link(public_url: &Url, token: &str) -> String {
    let base = public_url.as_str().trim_end_matches('/');
    format!("{base}{PATH}/login?t={token}")
}

/// A new session: its id (for the cookie) and what the store keeps.
pub struct NewSession {
    pub id: String,
    pub session: DashboardSession,
}

/// Uses `token`: a session for its operator if the token is valid, unused and the operator
/// is one still. The token is used up in every case where it was valid.
pub async fn login(
    store: &Store,
    admins: &[u64],
    token: &str,
    now: i64,
) -> Result<Result<NewSession, Refused>, StoreError> {
    if !well_formed(token) {
        return Ok(Err(Refused::Forbidden));
    }
    let Some(user_id) = store.use_dashboard_token(&hash(token), now).await? else {
        return Ok(Err(Refused::Forbidden));
    };
    if !admins.contains(&user_id) {
        return Ok(Err(Refused::Forbidden));
    }
    let lang = store.user_lang(user_id).await?.unwrap_or_default();
    let id = random_hex(32);
    let session = DashboardSession {
        user_id,
        lang: lang.as_str().to_string(),
        csrf: random_hex(32),
        expires_at: now + SESSION_SECS,
    };
    store
        .add_dashboard_session(&hash(&id), &session, now)
        .await?;
    Ok(Ok(NewSession { id, session }))
}

/// The session cookie's value in a request, if it has one of the right shape.
pub fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| well_formed(v))
}

/// The request's session, if it has a live one of an operator.
pub async fn session(
    store: &Store,
    admins: &[u64],
    headers: &HeaderMap,
    now: i64,
) -> Result<Result<(String, DashboardSession), Refused>, StoreError> {
    let Some(id) = session_id(headers) else {
        return Ok(Err(Refused::NoSession));
    };
    let Some(session) = store.dashboard_session(&hash(&id), now).await? else {
        return Ok(Err(Refused::NoSession));
    };
    if !admins.contains(&session.user_id) {
        return Ok(Err(Refused::Forbidden));
    }
    Ok(Ok((id, session)))
}

/// The language a session's pages are written in.
pub fn lang(session: &DashboardSession) -> Lang {
    Lang::parse(&session.lang).unwrap_or_default()
}

/// The `Set-Cookie` value that starts a session.
pub fn set_cookie(id: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={id}; Path={PATH}; Max-Age={SESSION_SECS}; HttpOnly; SameSite=Strict{secure}")
}

/// The `Set-Cookie` value that ends one.
pub fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; Path={PATH}; Max-Age=0; HttpOnly; SameSite=Strict{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn ids_are_random_hex_and_kept_as_hashes() {
        let (a, b) = (random_hex(32), random_hex(32));
        assert!(well_formed(&a) && well_formed(&b) && a != b);
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(!well_formed(&a.to_uppercase()));
        assert!(!well_formed(&a[1..]));
    }

    #[test]
    fn the_cookie_is_found_among_others_and_its_attributes_are_strict() {
        let id = random_hex(32);
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=1; {COOKIE}={id}; b=2")).unwrap(),
        );
        assert_eq!(session_id(&h), Some(id.clone()));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("dlb_dash=<script>"),
        );
        assert_eq!(session_id(&h), None);
        let c = set_cookie(&id, true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.ends_with("Secure"));
        assert!(!set_cookie(&id, false).contains("Secure"));
        assert!(c.contains("Max-Age=43200") && c.contains("Path=/dashboard"));
    }

    #[test]
    fn links_join_the_public_origin() {
        let u = Url::parse("https://bot.example.com").unwrap();
        assert_eq!(
            login_link(&u, "ab"),
            "https://bot.example.com/dashboard/login?t=ab"
        );
    }
}
