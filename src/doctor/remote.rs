//! The doctor's remote checks: the Bot API (token, group privacy, inline mode, how updates
//! arrive) and veapi (the key through one conversion, the order source through one page).

use super::{probe_product, provider_label, Check, PROBE_EXTERNAL_INFO};
use crate::config::{Config, VeapiConfig};
use crate::poller::china_time;
use crate::telegram;
use crate::veapi::{ErrorClass, Provider, ShareRequest, Upstream, VeapiClient, VeapiError, Window};
use teloxide::prelude::*;
use teloxide::{ApiError, RequestError};

pub(super) const TOKEN: &str = "Telegram token";
pub(super) const GROUPS: &str = "Group privacy";
pub(super) const INLINE: &str = "Inline mode";
pub(super) const UPDATES: &str = "Updates";
pub(super) const KEY: &str = "veapi key";
pub(super) const ORDERS: &str = "Order source";

/// The order check's window: the last minute, as the poller would ask for it.
const ORDER_WINDOW_SECS: i64 = 60;

/// getMe, then what it says about groups and inline mode, then getWebhookInfo.
pub(super) async fn telegram(config: &Config) -> Vec<Check> {
    let skip_rest = |first: Check| {
        vec![
            first,
            Check::skipped(GROUPS, "needs the token"),
            Check::skipped(INLINE, "needs the token"),
            Check::skipped(UPDATES, "needs the token"),
        ]
    };
    let api = &config.telegram_api_url;
    let Some(token) = &config.bot_token else {
        return skip_rest(Check::fail(
            TOKEN,
            "TELEGRAM_BOT_TOKEN is not set",
            "put the token from @BotFather in .env",
        ));
    };
    let bot = match telegram::bot(token, api.clone()) {
        Ok(b) => b,
        Err(e) => {
            return skip_rest(Check::fail(
                TOKEN,
                format!("cannot set up an HTTP client: {}", e.without_url()),
                "check the system's TLS set-up",
            ))
        }
    };
    let me = match bot.get_me().await {
        Ok(me) => me,
        Err(e) => return skip_rest(bot_api_failure(&e, api)),
    };
    let mut checks = vec![Check::pass(
        TOKEN,
        format!(
            "@{} (id {}) through {api}",
            me.user.username.as_deref().unwrap_or("?"),
            me.user.id
        ),
    )];
    checks.push(if !me.can_join_groups {
        Check::warn(
            GROUPS,
            "the bot cannot be added to groups",
            "if it should serve groups: @BotFather → /setjoingroups → Enable",
        )
    } else if !me.can_read_all_group_messages {
        Check::warn(
            GROUPS,
            "privacy mode is on: in groups the bot sees only commands, mentions and replies to it, not the links people post",
            "@BotFather → /setprivacy → Disable, then remove the bot from its groups and add it again",
        )
    } else {
        Check::pass(GROUPS, "privacy mode is off: the bot reads group messages")
    });
    checks.push(inline(config.inline, me.supports_inline_queries));
    checks.push(match bot.get_webhook_info().await {
        Err(e) => {
            let mut c = bot_api_failure(&e, api);
            c.name = UPDATES;
            c
        }
        Ok(info) => updates(config, info.url.as_ref(), &info),
    });
    checks
}

/// Inline mode: Telegram sends `@bot …` queries only when @BotFather's inline switch is on;
/// the bot answers them (operators always, everyone with `INLINE` on).
fn inline(wanted: bool, supported: bool) -> Check {
    match (wanted, supported) {
        (true, false) => Check::warn(
            INLINE,
            "inline mode is off in @BotFather: \"@bot <link>\" in other chats gets nothing from Telegram (INLINE is on)",
            "@BotFather → /setinline → choose the bot → send a placeholder such as 粘贴抖音商品链接; optionally /setinlinefeedback → Disabled",
        ),
        (true, true) => Check::pass(
            INLINE,
            "inline mode is on: anyone can type \"@bot <link>\" in any chat for their own 抖口令",
        ),
        (false, true) => Check::pass(
            INLINE,
            "inline mode is on, for operators only (INLINE=off: others are pointed to the private chat)",
        ),
        (false, false) => Check::pass(
            INLINE,
            "inline mode is off (INLINE=off, and off in @BotFather)",
        ),
    }
}

/// How updates arrive, against what Telegram has registered.
fn updates(
    config: &Config,
    registered: Option<&url::Url>,
    info: &teloxide::types::WebhookInfo,
) -> Check {
    let pending = info.pending_update_count;
    match (&config.webhook, registered) {
        (None, None) => Check::pass(UPDATES, "long polling; no webhook is set"),
        (None, Some(url)) => Check::warn(
            UPDATES,
            format!(
                "long polling, but a webhook is set ({url}, {pending} updates waiting): getUpdates is refused while it is, and `run` deletes it"
            ),
            "if another deployment uses this webhook, put its WEBHOOK_URL and WEBHOOK_SECRET here instead; otherwise nothing to do, or call deleteWebhook",
        ),
        (Some(w), None) => Check::pass(
            UPDATES,
            format!("webhook mode; not set yet: `run` registers {}", w.url),
        ),
        (Some(w), Some(url)) if *url != w.url => Check::warn(
            UPDATES,
            format!("webhook mode, but Telegram posts to {url}, not WEBHOOK_URL"),
            "`run` registers WEBHOOK_URL at start; if another deployment uses the old one, the two take turns",
        ),
        (Some(w), Some(_)) => match &info.last_error_message {
            Some(msg) => Check::warn(
                UPDATES,
                format!(
                    "webhook set to {}; Telegram's last delivery failed: {msg}",
                    w.url
                ),
                "check that WEBHOOK_URL reaches this bot's HTTP_LISTEN (HTTPS certificate, reverse proxy)",
            ),
            None => Check::pass(
                UPDATES,
                format!("webhook set to {} ({pending} updates waiting)", w.url),
            ),
        },
    }
}

/// A Bot API call that failed: the token refused, the API unreachable, or something else.
fn bot_api_failure(e: &RequestError, api: &url::Url) -> Check {
    match e {
        // 401 "Unauthorized" (a wrong token) and 404 "Not Found" (no such bot path), by
        // teloxide's mapping or by the description itself.
        RequestError::Api(ApiError::InvalidToken) => token_refused("Unauthorized"),
        RequestError::Api(ApiError::Unknown(d))
            if d.starts_with("Unauthorized") || d.starts_with("Not Found") =>
        {
            token_refused(d)
        }
        RequestError::Network(e) => Check::fail(
            TOKEN,
            format!("cannot reach the Bot API at {api}: {}", reqwest_reason(e)),
            "check TELEGRAM_API_URL and this machine's network (firewall, proxy, DNS)",
        ),
        RequestError::InvalidJson { raw, .. } => Check::fail(
            TOKEN,
            format!(
                "{api} answered something that is not the Bot API: {}",
                shorten(raw, 80)
            ),
            "check TELEGRAM_API_URL (unset means https://api.telegram.org)",
        ),
        RequestError::RetryAfter(s) => Check::fail(
            TOKEN,
            format!("Telegram asks to wait {} s", s.seconds()),
            "run the doctor again after that",
        ),
        other => Check::fail(
            TOKEN,
            format!("the Bot API refused: {other}"),
            "check the token with @BotFather and TELEGRAM_API_URL",
        ),
    }
}

fn token_refused(description: &str) -> Check {
    Check::fail(
        TOKEN,
        format!("Telegram refused TELEGRAM_BOT_TOKEN ({description})"),
        "copy the token from @BotFather again (/mybots → the bot → API Token) into TELEGRAM_BOT_TOKEN",
    )
}

/// What went wrong on the wire, without the URL (it holds the token): the innermost cause.
fn reqwest_reason(e: &reqwest::Error) -> String {
    let kind = crate::veapi::failure_kind(e);
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    format!("{kind} ({cause})")
}

fn shorten(s: &str, max: usize) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

/// One conversion of [`probe_product`], then one page of the last minute's orders.
pub(super) async fn veapi(config: &Config) -> Vec<Check> {
    let Some(cfg) = &config.veapi else {
        return vec![
            Check::fail(KEY, "VEAPI_KEY is not set", "put your vekey in .env"),
            Check::skipped(ORDERS, "needs VEAPI_KEY"),
        ];
    };
    let client = match VeapiClient::new(cfg) {
        Ok(c) => c,
        Err(e) => {
            return vec![
                Check::fail(KEY, e.to_string(), "check the system's TLS set-up"),
                Check::skipped(ORDERS, "needs a veapi client"),
            ]
        }
    };
    let upstream = Upstream::new(client, cfg.provider);
    let share = ShareRequest {
        product_url: probe_product(cfg.provider),
        external_info: PROBE_EXTERNAL_INFO,
        use_coupon: false,
    };
    let now = chrono::Utc::now().timestamp();
    let window = Window {
        start: china_time(now - ORDER_WINDOW_SECS),
        end: china_time(now),
    };
    let (link, page) = tokio::join!(
        upstream.links.share(&share),
        upstream.orders.page(&window, None)
    );
    let provider = cfg.provider;
    let link_check = match link {
        Ok(_) => Check::pass(
            KEY,
            format!(
                "converted product {} through {} (one call of your quota)",
                probe_product(provider),
                provider.share_endpoint()
            ),
        ),
        Err(e)
            if e.class() == ErrorClass::Product
                && crate::veapi::names_the_product(e.upstream_msg().unwrap_or_default()) =>
        {
            Check::pass(
            KEY,
            format!(
                "{} works: the key and authorization were accepted (the sample product itself was refused: {})",
                provider.share_endpoint(),
                e.upstream_msg().unwrap_or("no reason given")
            ),
            )
        }
        // A refusal read as the product's only by broad words ("转链失败", "不支持"): it may
        // as well be the key's or the endpoint's, so it proves nothing: a failure.
        Err(e) if e.class() == ErrorClass::Product => Check::fail(
            KEY,
            format!(
                "{} refused the sample product without naming a product problem: {}",
                provider.share_endpoint(),
                e.upstream_msg().unwrap_or("no reason given")
            ),
            "try `douyin-link-bot convert` with a product you know is promotable; if it fails the same way, check the key and the endpoint's authorization in veapi's member centre",
        ),
        Err(e) => veapi_failure(KEY, provider.share_endpoint(), &e, cfg, link_authorization(provider)),
    };
    let orders_check = match page {
        Ok(page) if page.unreadable.is_empty() => Check::pass(
            ORDERS,
            format!(
                "{}: {} order(s) updated in the last minute",
                provider.orders_endpoint(),
                page.orders.len()
            ),
        ),
        Ok(page) => Check::warn(
            ORDERS,
            format!(
                "{}: {} order(s) read, {} entries unreadable (first: {})",
                provider.orders_endpoint(),
                page.orders.len(),
                page.unreadable.len(),
                page.unreadable[0]
            ),
            "the bot keeps such windows and alerts the operators; report the entry's shape",
        ),
        Err(e) => veapi_failure(
            ORDERS,
            provider.orders_endpoint(),
            &e,
            cfg,
            orders_authorization(provider),
        ),
    };
    vec![link_check, orders_check]
}

fn link_authorization(p: Provider) -> &'static str {
    match p {
        Provider::Kol => "authorize your 达人 account in veapi's member centre (会员中心)",
        Provider::Douke => "authorize your 抖客 account in veapi's member centre (会员中心)",
        Provider::Csj => {
            "enable the 穿山甲 endpoints for your vekey or re-authorize in veapi's member centre (会员中心)"
        }
    }
}

fn orders_authorization(p: Provider) -> &'static str {
    match p {
        Provider::Kol => {
            "the order endpoint's authorization is missing or expired (15 days for 达人): re-authorize in veapi's member centre (会员中心)"
        }
        Provider::Douke => {
            "the order endpoint's authorization is missing or expired (抖客): re-authorize in veapi's member centre (会员中心)"
        }
        Provider::Csj => {
            "the 穿山甲 order endpoint's authorization is missing or expired: enable it for your vekey or re-authorize in veapi's member centre (会员中心)"
        }
    }
}

/// A refused or failed veapi call, with what to do by its class.
fn veapi_failure(
    name: &'static str,
    endpoint: &str,
    e: &VeapiError,
    cfg: &VeapiConfig,
    authorization: &str,
) -> Check {
    let said = match e {
        VeapiError::Api { code, msg, .. } => format!("{endpoint} refused (error {code}): {msg}"),
        VeapiError::Transport(t) => t.clone(),
    };
    let advice = match e.class() {
        ErrorClass::KeyOrQuota => {
            "vekey invalid, expired or out of quota: check VEAPI_KEY and your card in veapi's member centre (会员中心)".to_string()
        }
        ErrorClass::Authorization => authorization.to_string(),
        ErrorClass::Transport => format!(
            "cannot reach VEAPI_BASE_URL ({}): check it and this machine's network",
            cfg.base_url
        ),
        ErrorClass::Throttled => "veapi asks to slow down: run the doctor again in a minute".into(),
        ErrorClass::Unexpected => {
            "veapi answered in a shape the bot cannot read: report the message above".into()
        }
        ErrorClass::Product | ErrorClass::Other => format!(
            "veapi's message above says what is wrong; if it is about your {} account, see veapi's member centre (会员中心)",
            provider_label(cfg.provider)
        ),
    };
    Check::fail(name, said, advice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_answers_are_cut_on_one_line() {
        assert_eq!(shorten("a\n  b", 10), "a b");
        assert_eq!(shorten(&"x".repeat(100), 3), "xxx…");
        assert_eq!(shorten("好好好好", 2), "好好…");
    }
}
