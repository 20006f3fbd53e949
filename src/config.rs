//! Configuration from the environment (and `.env`, read by `main` before this runs).

use crate::secret::Secret;
use crate::veapi::Provider;
use std::net::SocketAddr;
use std::time::Duration;
use thiserror::Error;
use url::Url;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{var} is not set: {hint}")]
    Missing {
        var: &'static str,
        hint: &'static str,
    },
    #[error("{var} is invalid ({value:?}): {hint}")]
    Invalid {
        var: &'static str,
        value: String,
        hint: &'static str,
    },
}

impl ConfigError {
    /// The variable at fault.
    pub fn var(&self) -> &'static str {
        match self {
            ConfigError::Missing { var, .. } | ConfigError::Invalid { var, .. } => var,
        }
    }
}

/// Which credentials a command needs; the others may be absent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    pub telegram: bool,
    pub veapi: bool,
}

/// veapi publishes no rate limit, and a burst of chats must not queue behind a few calls:
/// 200 chats converting at once are 200 calls in flight. veapi's own throttling answer is
/// what slows the bot down, not this ceiling.
pub const DEFAULT_MAX_IN_FLIGHT: u64 = 256;

#[derive(Debug, Clone)]
pub struct VeapiConfig {
    /// `VEAPI_PROVIDER`: which endpoints convert and list orders.
    pub provider: Provider,
    /// `RESOLVE_SHORT_LINKS`: open `v.douyin.com` links (one request, no redirect followed)
    /// to tell products from videos and read the product id. On by default for csj, which
    /// cannot take a short link as it is.
    pub resolve_short_links: bool,
    /// `SHORT_LINK_BASE_URL`: where short-link codes are requested (`{base}/{code}/`).
    pub short_link_base: Url,
    pub key: Secret,
    pub base_url: Url,
    pub pid: Option<String>,
    pub access_token: Option<Secret>,
    pub account_id: Option<String>,
    pub sessionkey: Option<Secret>,
    pub open_id: Option<String>,
    pub max_in_flight: usize,
    /// Ceiling on one veapi call, connection included.
    pub timeout: Duration,
}

/// `DATABASE_URL`: shown (`Debug`) without its password; the store opens it as a `&str`.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl std::ops::Deref for DatabaseUrl {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", crate::store::redact_url(&self.0))
    }
}

impl PartialEq<&str> for DatabaseUrl {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}
/// Webhook mode: Telegram posts updates to `url`, each carrying `secret` in the
/// `X-Telegram-Bot-Api-Secret-Token` header.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: Url,
    pub secret: Secret,
}

/// Where the HTTP server listens when `HTTP_LISTEN` is unset in webhook mode.
pub const DEFAULT_HTTP_LISTEN: &str = "0.0.0.0:8080";

#[derive(Debug, Clone)]
pub struct Config {
    pub bot_token: Option<Secret>,
    pub telegram_api_url: Url,
    pub veapi: Option<VeapiConfig>,
    pub database_url: DatabaseUrl,
    pub poll_interval: Duration,
    /// `OUTBOX_CLAIM_SECS`: how long a message taken for delivery is one instance's alone
    /// (and how soon a dead instance's message is sent by another).
    pub outbox_claim: Duration,
    pub admin_user_ids: Vec<u64>,
    /// Chats the bot works in; empty means every chat. Admins' private chats always count.
    pub allowed_chat_ids: Vec<i64>,
    /// Conversions one user may ask for per minute; 0 means no limit.
    pub user_rate_limit: u32,
    pub cache_ttl: Duration,
    /// `GROUP_FALLBACK_AMOUNTS=on`: order news for a user who never opened a private chat
    /// goes to the group whole, amounts included. Off by default: the group only hears that
    /// there is news and where to read it.
    pub group_fallback_amounts: bool,
    /// `REBATE_PERCENT` (0–100): the share of the commission users get back; 0 shows no
    /// rebate anywhere.
    pub rebate_percent: u8,
    /// `INLINE=off` answers inline queries only for operators (on by default: BotFather's
    /// inline switch decides whether Telegram sends any).
    pub inline: bool,
    /// `HTTP_LISTEN`: the HTTP server's address (health, metrics, the webhook); None: no
    /// server (long polling without it).
    pub http_listen: Option<SocketAddr>,
    /// `WEBHOOK_URL` + `WEBHOOK_SECRET`: webhook mode instead of long polling.
    pub webhook: Option<WebhookConfig>,
    /// `PUBLIC_URL`: the public origin the bot's HTTP server is reached at (behind a TLS
    /// proxy), the base of the links it hands out (the dashboard at `/dashboard`). Unset:
    /// `WEBHOOK_URL`'s origin in webhook mode, else none (no dashboard).
    pub public_url: Option<Url>,
}

impl Config {
    pub fn from_env(needs: Needs) -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok(), needs)
    }

    /// Reads configuration through `get`, so tests need not touch the process environment.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        needs: Needs,
    ) -> Result<Self, ConfigError> {
        let var = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };

        let bot_token = match var("TELEGRAM_BOT_TOKEN") {
            Some(t) if t.contains(':') && !t.contains(char::is_whitespace) => Some(Secret::new(t)),
            Some(t) => {
                return Err(ConfigError::Invalid {
                    var: "TELEGRAM_BOT_TOKEN",
                    value: mask(&t),
                    hint: "expected the token from @BotFather, like 123456:ABC-DEF…",
                })
            }
            None if needs.telegram => {
                return Err(ConfigError::Missing {
                    var: "TELEGRAM_BOT_TOKEN",
                    hint: "put the token from @BotFather in .env (see .env.example)",
                })
            }
            None => None,
        };
        let telegram_api_url = url_var(
            "TELEGRAM_API_URL",
            var("TELEGRAM_API_URL"),
            "https://api.telegram.org",
        )?;

        let provider = match var("VEAPI_PROVIDER") {
            None => Provider::default(),
            Some(p) => Provider::parse(&p).ok_or(ConfigError::Invalid {
                var: "VEAPI_PROVIDER",
                value: p,
                hint: "expected kol (达人), douke (抖客) or csj (穿山甲)",
            })?,
        };
        let resolve_short_links = on_off("RESOLVE_SHORT_LINKS", var("RESOLVE_SHORT_LINKS"))?
            .unwrap_or(provider.resolves_short_links_by_default());
        if provider.needs_product_url() && !resolve_short_links {
            return Err(ConfigError::Invalid {
                var: "RESOLVE_SHORT_LINKS",
                value: "off".into(),
                hint: "VEAPI_PROVIDER=csj takes only product ids and URLs: short links must be resolved (leave it unset or on)",
            });
        }
        let short_link_base = url_var(
            "SHORT_LINK_BASE_URL",
            var("SHORT_LINK_BASE_URL"),
            "https://v.douyin.com",
        )?;
        let veapi = match var("VEAPI_KEY") {
            Some(key) => Some(VeapiConfig {
                provider,
                resolve_short_links,
                short_link_base,
                key: Secret::new(key),
                base_url: url_var(
                    "VEAPI_BASE_URL",
                    var("VEAPI_BASE_URL"),
                    "http://api.veapi.cn",
                )?,
                pid: var("VEAPI_PID"),
                access_token: var("VEAPI_ACCESS_TOKEN").map(Secret::new),
                account_id: var("VEAPI_ACCOUNT_ID"),
                sessionkey: var("VEAPI_SESSIONKEY").map(Secret::new),
                open_id: var("VEAPI_OPEN_ID"),
                max_in_flight: num_var(
                    "VEAPI_MAX_IN_FLIGHT",
                    var("VEAPI_MAX_IN_FLIGHT"),
                    DEFAULT_MAX_IN_FLIGHT,
                    1..=1024,
                )? as usize,
                timeout: Duration::from_secs(num_var(
                    "VEAPI_TIMEOUT_SECS",
                    var("VEAPI_TIMEOUT_SECS"),
                    15,
                    1..=300,
                )?),
            }),
            None if needs.veapi => {
                return Err(ConfigError::Missing {
                    var: "VEAPI_KEY",
                    hint: "put your veapi vekey in .env (see .env.example)",
                })
            }
            None => None,
        };

        let database_url = var("DATABASE_URL").unwrap_or_else(|| "sqlite://data/bot.db".into());
        if !database_url.starts_with("sqlite:") && !crate::store::is_postgres_url(&database_url) {
            return Err(ConfigError::Invalid {
                var: "DATABASE_URL",
                value: crate::store::redact_url(&database_url),
                hint: "expected sqlite://path/to/bot.db or postgres://user@host/database",
            });
        }
        let database_url = DatabaseUrl(database_url);

        let outbox_claim = Duration::from_secs(num_var(
            "OUTBOX_CLAIM_SECS",
            var("OUTBOX_CLAIM_SECS"),
            30,
            5..=3_600,
        )?);
        let poll_interval = Duration::from_secs(num_var(
            "ORDER_POLL_INTERVAL_SECS",
            var("ORDER_POLL_INTERVAL_SECS"),
            60,
            5..=86_400,
        )?);
        let cache_ttl = Duration::from_secs(num_var(
            "CONVERSION_CACHE_SECS",
            var("CONVERSION_CACHE_SECS"),
            24 * 3600,
            0..=7 * 24 * 3600,
        )?);

        let admin_user_ids = id_list(
            "ADMIN_USER_IDS",
            var("ADMIN_USER_IDS"),
            "expected comma-separated numeric Telegram user ids, e.g. 12345,67890",
        )?;
        let allowed_chat_ids = id_list(
            "ALLOWED_CHAT_IDS",
            var("ALLOWED_CHAT_IDS"),
            "expected comma-separated Telegram chat ids, e.g. 12345,-1001234567890",
        )?;
        let user_rate_limit =
            num_var("USER_RATE_LIMIT", var("USER_RATE_LIMIT"), 30, 0..=10_000)? as u32;

        let group_fallback_amounts =
            on_off("GROUP_FALLBACK_AMOUNTS", var("GROUP_FALLBACK_AMOUNTS"))?.unwrap_or(false);

        let rebate_percent = num_var("REBATE_PERCENT", var("REBATE_PERCENT"), 0, 0..=100)? as u8;
        let inline = on_off("INLINE", var("INLINE"))?.unwrap_or(true);

        let webhook = webhook_vars(var("WEBHOOK_URL"), var("WEBHOOK_SECRET"))?;
        let http_listen = match var("HTTP_LISTEN") {
            Some(raw) => Some(
                raw.parse::<SocketAddr>()
                    .map_err(|_| ConfigError::Invalid {
                        var: "HTTP_LISTEN",
                        value: raw,
                        hint: "expected an address and port such as 0.0.0.0:8080 or 127.0.0.1:9000",
                    })?,
            ),
            None if webhook.is_some() => Some(
                DEFAULT_HTTP_LISTEN
                    .parse()
                    .expect("the default address parses"),
            ),
            None => None,
        };
        let public_url = public_url_var(var("PUBLIC_URL"), webhook.as_ref())?;
        if public_url.is_some() && http_listen.is_none() {
            return Err(ConfigError::Missing {
                var: "HTTP_LISTEN",
                hint: "PUBLIC_URL's dashboard is served by the bot's HTTP server: set HTTP_LISTEN too (e.g. 127.0.0.1:8080, behind the TLS proxy)",
            });
        }

        Ok(Config {
            bot_token,
            telegram_api_url,
            veapi,
            database_url,
            poll_interval,
            outbox_claim,
            admin_user_ids,
            allowed_chat_ids,
            user_rate_limit,
            cache_ttl,
            group_fallback_amounts,
            rebate_percent,
            inline,
            http_listen,
            webhook,
            public_url,
        })
    }
}

/// Telegram's rule for `secret_token` (setWebhook): "1-256 characters. Only characters
/// A-Z, a-z, 0-9, _ and - are allowed." The bot asks for at least 16 so it cannot be
/// guessed.
fn valid_secret(s: &str) -> bool {
    (16..=256).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn webhook_vars(
    url: Option<String>,
    secret: Option<String>,
) -> Result<Option<WebhookConfig>, ConfigError> {
    let Some(raw) = url else {
        return Ok(None);
    };
    // Telegram posts updates to HTTPS URLs only (setWebhook: "HTTPS URL to send updates to").
    let url = match Url::parse(&raw) {
        // A path segment starting with `:` or `*` would be a route pattern, not a path.
        Ok(u) if u.scheme() == "https"
            && u.host().is_some()
            && !u.path().split('/').any(|seg| seg.starts_with([':', '*'])) => u,
        _ => {
            return Err(ConfigError::Invalid {
                var: "WEBHOOK_URL",
                value: raw,
                hint: "expected the public https:// URL Telegram posts updates to, e.g. https://bot.example.com/telegram",
            })
        }
    };
    let secret = match secret {
        None => {
            return Err(ConfigError::Missing {
                var: "WEBHOOK_SECRET",
                hint: "webhook mode needs a secret of 16-256 characters A-Z a-z 0-9 _ -",
            })
        }
        Some(s) if !valid_secret(&s) => {
            return Err(ConfigError::Invalid {
                var: "WEBHOOK_SECRET",
                value: "***".into(),
                hint: "expected 16-256 characters, only A-Z a-z 0-9 _ - (Telegram's rule)",
            })
        }
        Some(s) => Secret::new(s),
    };
    Ok(Some(WebhookConfig { url, secret }))
}

/// `PUBLIC_URL`: an http(s) origin (no path, query, fragment or user), kept with the path
/// `/`; unset, the webhook's origin.
fn public_url_var(
    value: Option<String>,
    webhook: Option<&WebhookConfig>,
) -> Result<Option<Url>, ConfigError> {
    let Some(raw) = value else {
        return Ok(webhook.map(|w| {
            let mut origin = w.url.clone();
            origin.set_path("/");
            origin.set_query(None);
            origin.set_fragment(None);
            origin
        }));
    };
    match Url::parse(&raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https")
            && u.host().is_some()
            && u.path() == "/"
            && u.query().is_none()
            && u.fragment().is_none()
            && u.username().is_empty()
            && u.password().is_none() =>
        {
            Ok(Some(u))
        }
        _ => Err(ConfigError::Invalid {
            var: "PUBLIC_URL",
            value: raw,
            hint: "expected the public origin the bot's HTTP server is reached at, such as https://bot.example.com (no path: the dashboard is at /dashboard)",
        }),
    }
}

fn mask(s: &str) -> String {
    let shown: String = s.chars().take(4).collect();
    format!("{shown}…")
}

/// An `on`/`off` variable; None when unset.
fn on_off(var: &'static str, value: Option<String>) -> Result<Option<bool>, ConfigError> {
    match value.map(|v| v.to_ascii_lowercase()).as_deref() {
        None => Ok(None),
        Some("off" | "false" | "0" | "no") => Ok(Some(false)),
        Some("on" | "true" | "1" | "yes") => Ok(Some(true)),
        Some(other) => Err(ConfigError::Invalid {
            var,
            value: other.to_string(),
            hint: "expected on or off",
        }),
    }
}

fn url_var(var: &'static str, value: Option<String>, default: &str) -> Result<Url, ConfigError> {
    let raw = value.unwrap_or_else(|| default.to_string());
    match Url::parse(&raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(u),
        _ => Err(ConfigError::Invalid {
            var,
            value: raw,
            hint: "expected an http(s) URL such as http://127.0.0.1:8081",
        }),
    }
}

fn id_list<T: std::str::FromStr>(
    var: &'static str,
    value: Option<String>,
    hint: &'static str,
) -> Result<Vec<T>, ConfigError> {
    let Some(list) = value else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<T>().map_err(|_| ConfigError::Invalid {
                var,
                value: list.clone(),
                hint,
            })
        })
        .collect()
}

fn num_var(
    var: &'static str,
    value: Option<String>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(raw) = value else { return Ok(default) };
    match raw.parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(ConfigError::Invalid {
            var,
            value: raw,
            hint: "expected a whole number in the allowed range (see .env.example)",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(pairs: &[(&str, &str)], needs: Needs) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned(), needs)
    }

    const ALL: Needs = Needs {
        telegram: true,
        veapi: true,
    };

    #[test]
    fn a_postgres_url_is_accepted_and_its_password_never_shown() {
        let url = "postgres://bot:hunter2-pw@db.internal:5432/bot";
        let c = load(
            &[
                ("TELEGRAM_BOT_TOKEN", "1:abc"),
                ("VEAPI_KEY", "V1"),
                ("DATABASE_URL", url),
            ],
            ALL,
        )
        .unwrap();
        assert_eq!(c.database_url, url);
        assert!(!format!("{c:?}").contains("hunter2"), "{c:?}");
        let in_query = "postgres://bot@db/bot?sslmode=require&password=hunter2-pw";
        let c = load(
            &[
                ("TELEGRAM_BOT_TOKEN", "1:abc"),
                ("VEAPI_KEY", "V1"),
                ("DATABASE_URL", in_query),
            ],
            ALL,
        )
        .unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("sslmode=require"),
            "{shown}"
        );
        let err = load(
            &[("DATABASE_URL", "mysql://bot:hunter2-pw@db/bot")],
            Needs::default(),
        )
        .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("postgres://"), "{err}");
    }

    #[test]
    fn typos_that_hide_a_password_from_the_url_parser_do_not_show_it() {
        for typo in [
            "postgres:hunter2-pw@db/bot",
            "postgres://bot:hunter2/pw@db/bot",
            "postgres://bot:hunter2?pw@db/bot",
            "postgres://bot:hunter2-pw@db:badport/bot",
        ] {
            let shown = crate::store::redact_url(typo);
            assert!(!shown.contains("hunter2"), "{typo} -> {shown}");
            assert!(shown.starts_with("postgres"), "{shown}");
        }
        let plain = "postgres://bot@db:5432/bot?sslmode=require";
        assert_eq!(crate::store::redact_url(plain), plain);
    }

    #[test]
    fn defaults_apply_when_only_credentials_are_set() {
        let c = load(&[("TELEGRAM_BOT_TOKEN", "1:abc"), ("VEAPI_KEY", "V1")], ALL).unwrap();
        assert_eq!(c.database_url, "sqlite://data/bot.db");
        assert_eq!(c.poll_interval, Duration::from_secs(60));
        assert_eq!(c.outbox_claim, Duration::from_secs(30));
        assert_eq!(c.cache_ttl, Duration::from_secs(86_400));
        assert_eq!(c.telegram_api_url.as_str(), "https://api.telegram.org/");
        assert_eq!(c.veapi.unwrap().base_url.as_str(), "http://api.veapi.cn/");
        assert!(
            !c.group_fallback_amounts,
            "amounts stay out of groups by default"
        );
    }

    #[test]
    fn the_provider_sets_short_link_resolution_by_default() {
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = vec![("TELEGRAM_BOT_TOKEN", "1:abc"), ("VEAPI_KEY", "V1")];
            pairs.extend_from_slice(extra);
            load(&pairs, ALL).map(|c| c.veapi.unwrap())
        };
        let kol = with(&[]).unwrap();
        assert_eq!(
            (kol.provider, kol.resolve_short_links),
            (Provider::Kol, false)
        );
        assert_eq!(kol.short_link_base.as_str(), "https://v.douyin.com/");
        let douke = with(&[("VEAPI_PROVIDER", "douke")]).unwrap();
        assert_eq!(
            (douke.provider, douke.resolve_short_links),
            (Provider::Douke, false)
        );
        let csj = with(&[("VEAPI_PROVIDER", "csj")]).unwrap();
        assert_eq!(
            (csj.provider, csj.resolve_short_links),
            (Provider::Csj, true)
        );
        let on = with(&[("RESOLVE_SHORT_LINKS", "on")]).unwrap();
        assert!(on.resolve_short_links);
        let e = with(&[("VEAPI_PROVIDER", "csj"), ("RESOLVE_SHORT_LINKS", "off")]).unwrap_err();
        assert!(e.to_string().contains("RESOLVE_SHORT_LINKS"), "{e}");
        let e = with(&[("VEAPI_PROVIDER", "pangle")]).unwrap_err();
        assert!(e.to_string().contains("VEAPI_PROVIDER"), "{e}");
    }

    #[test]
    fn group_fallback_amounts_is_on_or_off() {
        let creds = [("TELEGRAM_BOT_TOKEN", "1:abc"), ("VEAPI_KEY", "V1")];
        let with = |v: &'static str| {
            let mut pairs = creds.to_vec();
            pairs.push(("GROUP_FALLBACK_AMOUNTS", v));
            load(&pairs, ALL)
        };
        assert!(with("on").unwrap().group_fallback_amounts);
        assert!(with("ON").unwrap().group_fallback_amounts);
        assert!(!with("off").unwrap().group_fallback_amounts);
        let err = with("sometimes").unwrap_err();
        assert!(err.to_string().contains("GROUP_FALLBACK_AMOUNTS"), "{err}");
    }

    #[test]
    fn missing_and_malformed_variables_are_named() {
        let e = load(&[("VEAPI_KEY", "V1")], ALL).unwrap_err();
        assert!(e.to_string().starts_with("TELEGRAM_BOT_TOKEN is not set"));
        let e = load(&[("TELEGRAM_BOT_TOKEN", "1:a")], ALL).unwrap_err();
        assert!(e.to_string().starts_with("VEAPI_KEY is not set"));
        let e = load(
            &[
                ("TELEGRAM_BOT_TOKEN", "1:a"),
                ("VEAPI_KEY", "V"),
                ("ORDER_POLL_INTERVAL_SECS", "soon"),
            ],
            ALL,
        )
        .unwrap_err();
        assert!(e
            .to_string()
            .starts_with("ORDER_POLL_INTERVAL_SECS is invalid"));
        let e = load(&[("ADMIN_USER_IDS", "12, bob")], Needs::default()).unwrap_err();
        assert!(e.to_string().starts_with("ADMIN_USER_IDS is invalid"));
        let e = load(
            &[("VEAPI_KEY", "V"), ("VEAPI_BASE_URL", "api.veapi.cn")],
            Needs::default(),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("VEAPI_BASE_URL is invalid"));
    }

    #[test]
    fn a_malformed_token_is_not_echoed_back() {
        let e = load(
            &[("TELEGRAM_BOT_TOKEN", "nocolon-secretvalue")],
            Needs::default(),
        )
        .unwrap_err();
        assert!(!e.to_string().contains("secretvalue"));
    }

    const GOOD_SECRET: &str = "s3cret_Value-0123456789";

    #[test]
    fn webhook_mode_is_configured_and_listens_by_default() {
        let c = load(&[], Needs::default()).unwrap();
        assert!(
            c.webhook.is_none() && c.http_listen.is_none(),
            "no server by default"
        );
        let c = load(
            &[
                ("WEBHOOK_URL", "https://bot.example.com/tg/hook"),
                ("WEBHOOK_SECRET", GOOD_SECRET),
            ],
            Needs::default(),
        )
        .unwrap();
        let w = c.webhook.as_ref().unwrap();
        assert_eq!(w.url.path(), "/tg/hook");
        assert_eq!(w.secret.expose(), GOOD_SECRET);
        assert_eq!(c.http_listen, Some("0.0.0.0:8080".parse().unwrap()));
        let c = load(&[("HTTP_LISTEN", "127.0.0.1:9000")], Needs::default()).unwrap();
        assert_eq!(c.http_listen, Some("127.0.0.1:9000".parse().unwrap()));
        assert!(c.webhook.is_none(), "a server without webhook mode");
    }

    #[test]
    fn bad_webhook_settings_are_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("HTTP_LISTEN", "localhost")], "HTTP_LISTEN is invalid"),
            (
                &[("HTTP_LISTEN", "0.0.0.0:99999")],
                "HTTP_LISTEN is invalid",
            ),
            (
                &[
                    ("WEBHOOK_URL", "http://bot.example.com/hook"),
                    ("WEBHOOK_SECRET", GOOD_SECRET),
                ],
                "WEBHOOK_URL is invalid",
            ),
            (
                &[
                    ("WEBHOOK_URL", "bot.example.com/hook"),
                    ("WEBHOOK_SECRET", GOOD_SECRET),
                ],
                "WEBHOOK_URL is invalid",
            ),
            (
                &[
                    ("WEBHOOK_URL", "https://b.example/:hook"),
                    ("WEBHOOK_SECRET", GOOD_SECRET),
                ],
                "WEBHOOK_URL is invalid",
            ),
            (
                &[("WEBHOOK_URL", "https://bot.example.com/hook")],
                "WEBHOOK_SECRET is not set",
            ),
            (
                &[
                    ("WEBHOOK_URL", "https://bot.example.com/hook"),
                    ("WEBHOOK_SECRET", "short_secret"),
                ],
                "WEBHOOK_SECRET is invalid",
            ),
            (
                &[
                    ("WEBHOOK_URL", "https://b.example/h"),
                    ("WEBHOOK_SECRET", "has spaces in it, 1234"),
                ],
                "WEBHOOK_SECRET is invalid",
            ),
            (
                &[
                    ("WEBHOOK_URL", "https://b.example/h"),
                    ("WEBHOOK_SECRET", "slash/is/not/allowed/here"),
                ],
                "WEBHOOK_SECRET is invalid",
            ),
        ];
        for (pairs, expected) in cases {
            let e = load(pairs, Needs::default()).unwrap_err();
            assert!(e.to_string().starts_with(expected), "{pairs:?}: {e}");
        }
        let long = "a".repeat(257);
        let e = load(
            &[
                ("WEBHOOK_URL", "https://b.example/h"),
                ("WEBHOOK_SECRET", &long),
            ],
            Needs::default(),
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with("WEBHOOK_SECRET is invalid"),
            "{e}"
        );
        assert!(load(
            &[
                ("WEBHOOK_URL", "https://b.example/h"),
                ("WEBHOOK_SECRET", &long[..256])
            ],
            Needs::default(),
        )
        .is_ok());
    }

    #[test]
    fn the_webhook_secret_is_never_shown() {
        let bad = "not valid but secret!!";
        let e = load(
            &[
                ("WEBHOOK_URL", "https://b.example/h"),
                ("WEBHOOK_SECRET", bad),
            ],
            Needs::default(),
        )
        .unwrap_err();
        assert!(!format!("{e} {e:?}").contains("secret!!"), "{e:?}");
        let c = load(
            &[
                ("WEBHOOK_URL", "https://b.example/h"),
                ("WEBHOOK_SECRET", GOOD_SECRET),
            ],
            Needs::default(),
        )
        .unwrap();
        assert!(!format!("{c:?} {c:#?}").contains(GOOD_SECRET));
    }

    #[test]
    fn the_public_url_is_an_origin_defaulting_to_the_webhooks() {
        let c = load(&[], Needs::default()).unwrap();
        assert!(c.public_url.is_none(), "no dashboard by default");
        let c = load(
            &[
                ("WEBHOOK_URL", "https://bot.example.com:8443/tg/hook?x=1"),
                ("WEBHOOK_SECRET", GOOD_SECRET),
            ],
            Needs::default(),
        )
        .unwrap();
        assert_eq!(
            c.public_url.unwrap().as_str(),
            "https://bot.example.com:8443/"
        );
        let c = load(
            &[
                ("PUBLIC_URL", "https://dash.example.com"),
                ("HTTP_LISTEN", "127.0.0.1:9000"),
            ],
            Needs::default(),
        )
        .unwrap();
        assert_eq!(c.public_url.unwrap().as_str(), "https://dash.example.com/");
        let c = load(
            &[
                ("PUBLIC_URL", "http://127.0.0.1:9000/"),
                ("HTTP_LISTEN", "127.0.0.1:9000"),
            ],
            Needs::default(),
        )
        .unwrap();
        assert_eq!(c.public_url.unwrap().scheme(), "http");
    }

    #[test]
    fn a_bad_public_url_or_one_without_a_server_is_named() {
        for bad in [
            "bot.example.com",
            "ftp://bot.example.com",
            "https://bot.example.com/dash",
            "https://bot.example.com/?t=1",
            "https://user:pw@bot.example.com",
            "https://bot.example.com/#x",
        ] {
            let e = load(
                &[("PUBLIC_URL", bad), ("HTTP_LISTEN", "127.0.0.1:9000")],
                Needs::default(),
            )
            .unwrap_err();
            assert!(
                e.to_string().starts_with("PUBLIC_URL is invalid"),
                "{bad}: {e}"
            );
        }
        let e = load(
            &[("PUBLIC_URL", "https://bot.example.com")],
            Needs::default(),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("HTTP_LISTEN is not set"), "{e}");
    }

    #[test]
    fn detect_needs_nothing() {
        assert!(load(&[], Needs::default()).is_ok());
    }

    #[test]
    fn admin_ids_are_parsed() {
        let c = load(&[("ADMIN_USER_IDS", " 12, 34 ,")], Needs::default()).unwrap();
        assert_eq!(c.admin_user_ids, vec![12, 34]);
    }

    #[test]
    fn abuse_limits_have_defaults_and_are_checked() {
        let c = load(&[], Needs::default()).unwrap();
        assert_eq!(c.user_rate_limit, 30);
        assert!(c.allowed_chat_ids.is_empty());
        let c = load(
            &[
                ("ALLOWED_CHAT_IDS", "-1001234567890, 42"),
                ("USER_RATE_LIMIT", "0"),
            ],
            Needs::default(),
        )
        .unwrap();
        assert_eq!(c.allowed_chat_ids, vec![-1_001_234_567_890, 42]);
        assert_eq!(c.user_rate_limit, 0);
        let e = load(&[("ALLOWED_CHAT_IDS", "deals")], Needs::default()).unwrap_err();
        assert!(e.to_string().starts_with("ALLOWED_CHAT_IDS is invalid"));
        let e = load(
            &[("VEAPI_KEY", "V"), ("VEAPI_TIMEOUT_SECS", "0")],
            Needs::default(),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("VEAPI_TIMEOUT_SECS is invalid"));
    }
}
