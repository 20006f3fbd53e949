//! `douyin-link-bot doctor`, the binary as an operator runs it, against loopback fakes of the
//! Bot API and of veapi for each provider: what each check says, the advice under a
//! failure, the exit code, and that no secret reaches the output.

mod support;

use douyin_link_bot::doctor::{probe_product, PROBE_EXTERNAL_INFO};
use douyin_link_bot::poller::parse_china_time;
use douyin_link_bot::veapi::Provider;
use serde_json::{json, Value};
use std::process::{Command, Output, Stdio};
use support::*;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const BIN: &str = env!("CARGO_BIN_EXE_douyin-link-bot");

/// The binary's `doctor` in an empty folder (no stray `.env`) with only `env` set.
async fn doctor(env: Vec<(&'static str, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        Command::new(BIN)
            .arg("doctor")
            .current_dir(dir.path())
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// The check line named `name` (the mark, the name, the detail).
fn line<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| l.chars().skip(2).collect::<String>().starts_with(name))
        .unwrap_or_else(|| panic!("no {name} line in:\n{out}"))
}

/// The `→` advice under the check named `name`.
fn advice<'a>(out: &'a str, name: &str) -> &'a str {
    let start = out.find(line(out, name)).unwrap();
    out[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .find_map(|l| l.trim().strip_prefix("→ "))
        .unwrap_or_else(|| panic!("no advice under {name} in:\n{out}"))
}

/// The check lines (those starting with a mark).
fn check_lines(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| l.starts_with(['✓', '⚠', '✗', '–']))
        .collect()
}

const CHECKS: [&str; 9] = [
    "Configuration",
    "Operators",
    "Telegram token",
    "Group privacy",
    "Inline mode",
    "Updates",
    "veapi key",
    "Order source",
    "Store",
];

/// An order as each provider's order endpoint lists it: the kol fields (`pid_info`) for kol
/// and douke (`douke_OrderAds` "carries the kol order fields"), `external_info` at the top
/// level for csj (issue 11, point 4).
fn an_order(p: Provider) -> Value {
    let mut o = order_json(
        "4737996432465788974",
        "someone_else",
        "PAY_SUCC",
        "2026-11-22 10:00:00",
    );
    if p == Provider::Csj {
        o["external_info"] = json!("someone_else");
        o["after_sales_status"] = json!(0);
        o.as_object_mut().unwrap().remove("pid_info");
    }
    o
}

/// veapi's success envelope around one order (`shared/veapi.md`: `data.orders`, the last
/// page with an empty cursor).
fn one_order(p: Provider) -> ResponseTemplate {
    orders_body(vec![an_order(p)], "")
}

/// A refusal envelope as veapi sends them (`{"msg":…,"data":{},"error":…,"request_id":…}`).
fn refusal_body(code: &str, msg: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "msg": msg, "data": {}, "error": code, "request_id": "d0cT0r1"
    }))
}

/// The authorization refusals: Douyin's OAuth code 10008 "access token expired" through
/// veapi for 达人 (`shared/veapi.md`), and veapi's own "请先在会员中心授权" for the others.
fn auth_refused(p: Provider) -> ResponseTemplate {
    match p {
        Provider::Kol => refusal_body("10008", "access token expired"),
        Provider::Douke | Provider::Csj => refusal_body("1", "请先在会员中心授权"),
    }
}

/// A fake veapi for `p`: the link endpoint answers `share`, the order endpoint `orders`,
/// both only with the right vekey; anything else gets the key refusal (veapi publishes no
/// code table: "vekey不存在或已到期" is the message the classifier's table carries).
async fn fake_veapi(p: Provider, share: ResponseTemplate, orders: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    for (endpoint, body) in [(p.share_endpoint(), share), (p.orders_endpoint(), orders)] {
        // Only documented parameters reach the answer; anything else gets the refusal below.
        Mock::given(method("POST"))
            .and(path(format!("/{endpoint}")))
            .and(FormParam("vekey", VEKEY.to_string()))
            .and(support::providers::Documented)
            .respond_with(body)
            .with_priority(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .respond_with(refusal_body("1", "vekey不存在或已到期"))
        .with_priority(10)
        .mount(&server)
        .await;
    server
}

/// The share reply: the kol_ProductShare sample for every provider (csj_productlink's reply
/// fields are undocumented; the bot reads the kol names first).
fn share_ok() -> ResponseTemplate {
    json_body("veapi/share_ok.json")
}

struct Setup {
    tg: FakeTelegram,
    veapi: MockServer,
    db: TestDb,
    provider: Provider,
}

impl Setup {
    async fn new(p: Provider, share: ResponseTemplate, orders: ResponseTemplate) -> Setup {
        let tg = FakeTelegram::start().await;
        // Inline mode switched on in @BotFather (/setinline), as the README asks.
        tg.set_me(json!({"supports_inline_queries": true}));
        Setup {
            tg,
            veapi: fake_veapi(p, share, orders).await,
            db: TestDb::sqlite(),
            provider: p,
        }
    }

    async fn healthy(p: Provider) -> Setup {
        Setup::new(p, share_ok(), one_order(p)).await
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TELEGRAM_BOT_TOKEN", BOT_TOKEN.to_string()),
            ("TELEGRAM_API_URL", self.tg.server.uri()),
            ("VEAPI_KEY", VEKEY.to_string()),
            ("VEAPI_BASE_URL", self.veapi.uri()),
            ("VEAPI_PROVIDER", self.provider.as_str().to_string()),
            ("DATABASE_URL", self.db.url().to_string()),
            ("ADMIN_USER_IDS", ALICE.user_id.to_string()),
        ]
    }

    fn env_with(&self, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        let mut env = self.env();
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push((k, v.to_string()));
        }
        env
    }

    /// The forms veapi received at `endpoint`.
    async fn calls(&self, endpoint: &str) -> Vec<std::collections::HashMap<String, String>> {
        self.veapi
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == format!("/{endpoint}"))
            .map(form)
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_correct_set_up_passes_every_check_for_each_provider() {
    for p in Provider::ALL {
        let s = Setup::healthy(p).await;
        let o = doctor(s.env()).await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(0), "{p}:\n{out}");
        let lines = check_lines(&out);
        assert_eq!(lines.len(), CHECKS.len(), "{out}");
        for (l, name) in lines.iter().zip(CHECKS) {
            assert!(l.starts_with(&format!("✓ {name}")), "{p}: {l}\n{out}");
        }
        assert!(!out.contains('→'), "no advice when all pass:\n{out}");
        assert!(out.contains(&format!("VEAPI_PROVIDER={p}")), "{out}");
        assert!(line(&out, "Order source").contains("1 order(s)"), "{out}");
        assert!(line(&out, "Store").contains("sqlite"), "{out}");
        assert!(out.trim_end().ends_with("All checks passed."), "{out}");

        // One conversion of the known product, under an external_info that is nobody's.
        let shares = s.calls(p.share_endpoint()).await;
        assert_eq!(shares.len(), 1, "{p}");
        let product = if p == Provider::Csj {
            "product_url"
        } else {
            "productUrl"
        };
        assert_eq!(shares[0][product], probe_product(p));
        assert_eq!(shares[0]["external_info"], PROBE_EXTERNAL_INFO);
        assert_eq!(
            douyin_link_bot::tracking::attribute(PROBE_EXTERNAL_INFO),
            douyin_link_bot::tracking::Attribution::Foreign
        );
        // One page of the last minute.
        let pages = s.calls(p.orders_endpoint()).await;
        assert_eq!(pages.len(), 1, "{p}");
        let (start, end) = (
            parse_china_time(&pages[0]["start_time"]).unwrap(),
            parse_china_time(&pages[0]["end_time"]).unwrap(),
        );
        assert_eq!(end - start, 60);
        // The probe key is gone from the store.
        let store = douyin_link_bot::store::Store::open(s.db.url())
            .await
            .unwrap();
        assert_eq!(store.kv_get("doctor:probe").await.unwrap(), None);
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_order_authorization_fails_only_the_order_source_for_each_provider() {
    for p in Provider::ALL {
        let s = Setup::new(p, share_ok(), auth_refused(p)).await;
        let o = doctor(s.env()).await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{p}:\n{out}");
        for l in check_lines(&out) {
            if l.starts_with("✗ Order source") {
                continue;
            }
            assert!(l.starts_with('✓'), "{p}: {l}\n{out}");
        }
        let l = line(&out, "Order source");
        assert!(l.starts_with('✗') && l.contains(p.orders_endpoint()), "{l}");
        let a = advice(&out, "Order source");
        assert!(
            a.contains("re-authorize") && a.contains("member centre"),
            "{p}: {a}"
        );
        if p == Provider::Kol {
            assert!(a.contains("15 days for 达人"), "{a}");
        }
        assert!(out.contains("1 check failed"), "{out}");
    }
}

/// Account variables the chosen provider's endpoints do not take are not silently dropped:
/// the configuration line says so (⚠: the bot still runs).
#[tokio::test(flavor = "multi_thread")]
async fn variables_the_provider_ignores_are_named() {
    let s = Setup::healthy(Provider::Csj).await;
    let o = doctor(s.env_with(&[("VEAPI_PID", "dy_1_2_3"), ("VEAPI_OPEN_ID", "o1")])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(line(&out, "Configuration").starts_with('⚠'), "{out}");
    let a = advice(&out, "Configuration");
    assert!(
        a.contains("VEAPI_PID") && a.contains("VEAPI_OPEN_ID"),
        "{a}"
    );

    // douke_OrderAds takes the session key (veapi apidoc 330): not flagged there, and sent.
    let s = Setup::healthy(Provider::Douke).await;
    let o = doctor(s.env_with(&[("VEAPI_SESSIONKEY", "sk-test-777")])).await;
    let out = text(&o);
    assert!(line(&out, "Configuration").starts_with('✓'), "{out}");
    let orders = s.calls(Provider::Douke.orders_endpoint()).await;
    assert_eq!(orders[0]["sessionkey"], "sk-test-777");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_conversion_is_classified_for_the_operator() {
    // The link endpoint's authorization: the share check fails with its own advice.
    let s = Setup::new(
        Provider::Douke,
        json_body("veapi/share_auth_expired.json"),
        one_order(Provider::Douke),
    )
    .await;
    let out = text(&doctor(s.env()).await);
    assert!(line(&out, "veapi key").starts_with('✗'), "{out}");
    assert!(advice(&out, "veapi key").contains("authorize your 抖客 account"));

    // The example product delisted: the key and authorization still work.
    let s = Setup::new(
        Provider::Kol,
        json_body("veapi/share_not_in_alliance.json"),
        one_order(Provider::Kol),
    )
    .await;
    let o = doctor(s.env()).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let l = line(&out, "veapi key");
    assert!(
        l.starts_with('✓') && l.contains("商品没有加入精选联盟"),
        "{l}"
    );

    // veapi's own wrapper refusal (its envelope example in shared/veapi.md): read as the
    // product's only by broad words, so it proves nothing about the key: ✗, never ✓.
    let s = Setup::new(
        Provider::Kol,
        refusal_body("15", "产品或活动转链失败，请检查参数…"),
        one_order(Provider::Kol),
    )
    .await;
    let o = doctor(s.env()).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let l = line(&out, "veapi key");
    assert!(l.starts_with('✗') && l.contains("转链失败"), "{l}");

    // A wrong vekey: both veapi checks say so.
    let s = Setup::healthy(Provider::Csj).await;
    let o = doctor(s.env_with(&[("VEAPI_KEY", "not-the-key")])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    for name in ["veapi key", "Order source"] {
        assert!(line(&out, name).starts_with('✗'), "{out}");
        assert!(advice(&out, name).starts_with("vekey invalid, expired or out of quota"));
    }

    // veapi unreachable: a port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let o = doctor(s.env_with(&[("VEAPI_BASE_URL", &base)])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(advice(&out, "veapi key").starts_with("cannot reach VEAPI_BASE_URL"));
    assert!(advice(&out, "Order source").starts_with("cannot reach VEAPI_BASE_URL"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_token_fails_and_skips_what_needs_it() {
    let s = Setup::healthy(Provider::Kol).await;
    let wrong = "999999:wrong-token-NOT-PRINTED";
    // FakeTelegram answers any other token as Telegram does: HTTP 401
    // {"ok":false,"error_code":401,"description":"Unauthorized"}.
    let o = doctor(s.env_with(&[("TELEGRAM_BOT_TOKEN", wrong)])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let l = line(&out, "Telegram token");
    assert!(l.starts_with('✗') && l.contains("Unauthorized"), "{l}");
    assert!(advice(&out, "Telegram token").starts_with("copy the token from @BotFather again"));
    for name in ["Group privacy", "Inline mode", "Updates"] {
        assert!(line(&out, name).starts_with("– "), "{out}");
    }
    // The rest is still checked.
    assert!(line(&out, "veapi key").starts_with('✓'), "{out}");
    assert!(line(&out, "Store").starts_with('✓'), "{out}");
    assert!(
        !out.contains("NOT-PRINTED") && !out.contains("999999:"),
        "{out}"
    );
}

/// The inline check against INLINE and @BotFather's switch: only "INLINE on, switch off"
/// is worth acting on.
#[tokio::test(flavor = "multi_thread")]
async fn the_inline_check_follows_inline_and_botfather() {
    let s = Setup::healthy(Provider::Kol).await;
    let o = doctor(s.env()).await;
    let out = text(&o);
    let l = line(&out, "Inline mode");
    assert!(l.starts_with('✓') && l.contains("anyone can type"), "{l}");

    let o = doctor(s.env_with(&[("INLINE", "off")])).await;
    let out = text(&o);
    let l = line(&out, "Inline mode");
    assert!(l.starts_with('✓') && l.contains("operators only"), "{l}");

    s.tg.set_me(json!({"supports_inline_queries": false}));
    let o = doctor(s.env_with(&[("INLINE", "off")])).await;
    let out = text(&o);
    assert!(
        line(&out, "Inline mode").starts_with("✓ Inline mode     inline mode is off"),
        "{out}"
    );
    let o = doctor(s.env()).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "a warning does not fail:\n{out}");
    assert!(line(&out, "Inline mode").starts_with('⚠'), "{out}");
    assert!(advice(&out, "Inline mode").contains("/setinline"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn privacy_mode_and_a_stray_webhook_warn_but_pass() {
    let s = Setup::healthy(Provider::Kol).await;
    // Inline mode never switched on in @BotFather while INLINE is on (the default).
    s.tg.set_me(json!({"can_read_all_group_messages": false, "supports_inline_queries": false}));
    s.tg.set_webhook_url("https://old.example.com/hook");
    let o = doctor(s.env()).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "warnings do not fail:\n{out}");
    let l = line(&out, "Group privacy");
    assert!(
        l.starts_with('⚠') && l.contains("privacy mode is on"),
        "{l}"
    );
    assert!(advice(&out, "Group privacy").contains("/setprivacy → Disable"));
    let l = line(&out, "Inline mode");
    assert!(l.starts_with('⚠') && l.contains("off in @BotFather"), "{l}");
    assert!(advice(&out, "Inline mode").starts_with("@BotFather → /setinline"));
    let l = line(&out, "Updates");
    assert!(l.starts_with('⚠') && l.contains("old.example.com"), "{l}");
    assert!(out.contains("No check failed (3 warnings)"), "{out}");

    // Webhook mode with the webhook registered where WEBHOOK_URL says: all pass.
    let s = Setup::healthy(Provider::Kol).await;
    s.tg.set_webhook_url("https://bot.example.com/tg");
    let env = s.env_with(&[
        ("WEBHOOK_URL", "https://bot.example.com/tg"),
        ("WEBHOOK_SECRET", "webhook_secret-NOT-PRINTED-0123"),
    ]);
    let o = doctor(env).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(line(&out, "Updates").starts_with("✓ Updates"), "{out}");
    assert!(line(&out, "Updates").contains("webhook set to"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_variables_are_all_named_and_nothing_is_called() {
    let s = Setup::healthy(Provider::Kol).await;
    let o = doctor(s.env_with(&[
        ("VEAPI_PROVIDER", "pangle"),
        ("ORDER_POLL_INTERVAL_SECS", "soon"),
    ]))
    .await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    let l = line(&out, "Configuration");
    assert!(l.starts_with('✗') && l.contains("2 variables"), "{l}");
    assert!(out.contains(
        "VEAPI_PROVIDER is invalid (\"pangle\"): expected kol (达人), douke (抖客) or csj (穿山甲)"
    ));
    assert!(out.contains("ORDER_POLL_INTERVAL_SECS is invalid"), "{out}");
    assert!(advice(&out, "Configuration").contains(".env"));
    for name in &CHECKS[2..] {
        assert!(line(&out, name).starts_with("– "), "{out}");
    }
    assert!(s.veapi.received_requests().await.unwrap().is_empty());
    assert!(s.tg.server.received_requests().await.unwrap().is_empty());

    // Nothing set at all: both credentials named.
    let o = doctor(vec![]).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("TELEGRAM_BOT_TOKEN is not set") && out.contains("VEAPI_KEY is not set"));
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_the_output_even_at_trace() {
    let s = Setup::new(Provider::Kol, share_ok(), auth_refused(Provider::Kol)).await;
    let webhook_secret = "webhook_secret-NOT-PRINTED-0123";
    let access_token = "access-token-NOT-PRINTED";
    let sessionkey = "sessionkey-NOT-PRINTED";
    s.tg.set_webhook_url("https://bot.example.com/tg");
    let env = s.env_with(&[
        ("WEBHOOK_URL", "https://bot.example.com/tg"),
        ("WEBHOOK_SECRET", webhook_secret),
        ("VEAPI_ACCESS_TOKEN", access_token),
        ("VEAPI_SESSIONKEY", sessionkey),
        ("RUST_LOG", "trace"),
    ]);
    let o = doctor(env).await;
    let all = format!("{}{}", text(&o), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{all}");
    assert!(
        !o.stderr.is_empty(),
        "trace logging produced nothing to check"
    );
    let token_secret = BOT_TOKEN.split_once(':').unwrap().1;
    for secret in [
        BOT_TOKEN,
        token_secret,
        VEKEY,
        webhook_secret,
        access_token,
        sessionkey,
    ] {
        assert!(!all.contains(secret), "{secret} printed:\n{all}");
    }
    assert!(!all.contains("NOT-PRINTED"), "{all}");

    // A database password, with the store unreachable so its error is printed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("postgres://bot:pg-pass-NOT-PRINTED@127.0.0.1:{port}/bot");
    let o = doctor(s.env_with(&[("DATABASE_URL", &url)])).await;
    let out = text(&o);
    let l = line(&out, "Store");
    assert!(
        l.starts_with('✗') && l.contains("cannot connect to PostgreSQL at 127.0.0.1:"),
        "{l}"
    );
    assert!(!out.contains("NOT-PRINTED"), "{out}");
}

// On both backends: the store line names the engine it opened.
on_both_backends! {
    #[tokio::test(flavor = "multi_thread")]
    async fn the_store_check_names_its_engine(db) {
        let s = Setup::healthy(Provider::Kol).await;
        let o = doctor(s.env_with(&[("DATABASE_URL", db.url())])).await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(0), "{out}");
        let engine = if db.is_postgres() { "postgres" } else { "sqlite" };
        assert!(line(&out, "Store").contains(engine), "{out}");
    }
}
