//! The dashboard over HTTP, route by route and refusal by refusal: the router the bot
//! serves, on loopback, over a store of each backend seeded through the store's own
//! operations. Each test asserts what a browser gets (status, headers, cookie, page) and
//! what the store holds after (a refused request changes nothing).

mod support;

use douyin_link_bot::lang::Lang;
use douyin_link_bot::store::{china_day, Store};
use reqwest::StatusCode;
use support::dashboard::*;
use support::TestDb;

const PUBLIC: &str = "http://127.0.0.1:1";

async fn open(db: &TestDb) -> Store {
    Store::open(db.url()).await.unwrap()
}

fn assert_guarded(a: &Answer, what: &str) {
    assert_eq!(a.header("cache-control"), "no-store", "{what}");
    assert_eq!(a.header("referrer-policy"), "same-origin", "{what}");
    assert_eq!(a.header("x-frame-options"), "DENY", "{what}");
    assert_eq!(a.header("x-content-type-options"), "nosniff", "{what}");
    let csp = a.header("content-security-policy");
    assert!(
        csp.starts_with("default-src 'none'; style-src 'sha256-") && !csp.contains("script"),
        "{what}: {csp}"
    );
}

/// No figures of any kind in a refusal.
fn assert_no_data(a: &Answer) {
    for tell in ["chart-", "data-series", "csrf", "top-products", "parked"] {
        assert!(!a.body.contains(tell), "{tell} in a refusal: {}", a.body);
    }
}

on_both_backends! {
    #[tokio::test]
    async fn a_link_opens_one_session_once(db) {
        let d = Dash::start(open(&db).await, &[ADMIN], PUBLIC).await;
        let token = d.token(ADMIN, 0).await;
        let login = format!("/dashboard/login?t={token}");
        // A link checker asking HEAD first does not use the link up.
        let head = d.http.head(d.url(&login)).send().await.unwrap();
        assert_eq!(head.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(head.headers().get("set-cookie").is_none());
        let a = d.get(&login, None).await;
        // Not a redirect: a page of this site moves on (a redirect from a link opened on
        // another site would not carry the SameSite=Strict cookie it sets).
        assert_eq!(a.status, StatusCode::OK);
        assert!(
            a.body.contains("<meta http-equiv=\"refresh\" content=\"0; url=/dashboard\">"),
            "{}",
            a.body
        );
        assert_guarded(&a, "login");
        let set = a.header("set-cookie");
        let cookie = cookie_value(set).expect("a session cookie");
        assert_eq!(cookie.len(), 64, "{set}");
        assert!(!cookie.contains(&token), "the session id is not the token");
        for attribute in ["Path=/dashboard", "Max-Age=43200", "HttpOnly", "SameSite=Strict"] {
            assert!(set.contains(attribute), "{attribute} missing: {set}");
        }
        assert!(!set.contains("Secure"), "http PUBLIC_URL: not Secure: {set}");

        let again = d.get(&login, None).await;
        assert_eq!(again.status, StatusCode::FORBIDDEN, "a used link is refused");
        assert!(again.headers.get("set-cookie").is_none());
        assert_no_data(&again);

        let page = d.get("/dashboard", Some(&cookie)).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_guarded(&page, "page");
        assert!(page.header("content-type").starts_with("text/html"));
        for id in ["<figure id=\"chart-orders\">", "<table data-series=\"orders\">",
                   "<figure id=\"chart-commission\">", "<figure id=\"chart-gmv\">",
                   "<figure id=\"chart-conversions\">", "id=\"queue\"", "id=\"ledger\"",
                   "id=\"incidents\"", "id=\"poller\"", "id=\"top-products\"",
                   "id=\"top-users\"", "id=\"top-groups\"", "id=\"downloads\""] {
            assert!(page.body.contains(id), "{id} missing");
        }
        assert!(!page.body.contains("<script"), "no script at all");
    }
}

on_both_backends! {
    #[tokio::test]
    async fn two_instances_taking_one_token_at_once_open_one_session(db) {
        let one = Dash::start(open(&db).await, &[ADMIN], PUBLIC).await;
        let two = Dash::start(open(&db).await, &[ADMIN], PUBLIC).await;
        for _ in 0..5 {
            let token = one.token(ADMIN, 0).await;
            let path = format!("/dashboard/login?t={token}");
            let (a, b) = tokio::join!(one.get(&path, None), two.get(&path, None));
            let opened = [&a, &b]
                .iter()
                .filter(|x| x.status == StatusCode::OK)
                .count();
            assert_eq!(opened, 1, "{} {}", a.status, b.status);
            assert!([a.status, b.status].contains(&StatusCode::FORBIDDEN));
        }
    }
}

#[tokio::test]
async fn expired_forged_malformed_and_non_operator_tokens_are_refused() {
    let db = TestDb::sqlite();
    let d = Dash::start(open(&db).await, &[ADMIN], PUBLIC).await;
    let expired = d.token(ADMIN, 601).await;
    let fresh_enough = d.token(ADMIN, 590).await;
    let not_an_operator = d.token(2002, 0).await;
    let forged = "0123456789abcdef".repeat(4);
    let cases = [
        format!("t={expired}"),
        format!("t={forged}"),
        format!("t={}", &fresh_enough[..63]),
        format!("t={}", fresh_enough.to_uppercase()),
        "t=%3Cscript%3Ealert(1)%3C%2Fscript%3E".to_string(),
        format!("t={not_an_operator}"),
        String::new(),
    ];
    for q in cases {
        let a = d.get(&format!("/dashboard/login?{q}"), None).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{q}");
        assert!(a.headers.get("set-cookie").is_none(), "{q}");
        assert!(!a.body.contains("<script>"), "nothing echoed: {q}");
        assert_guarded(&a, &q);
        assert_no_data(&a);
    }
    // The refusals used nothing up: the link 590 s old still works, once.
    let a = d
        .get(&format!("/dashboard/login?t={fresh_enough}"), None)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    // The non-operator's token was used up by its refusal all the same.
    let d2 = Dash::start(d.store.clone(), &[ADMIN, 2002], PUBLIC).await;
    let a = d2
        .get(&format!("/dashboard/login?t={not_an_operator}"), None)
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn without_a_live_operator_session_nothing_is_shown_or_changed() {
    let db = TestDb::sqlite();
    let store = open(&db).await;
    let id = parked(&store, 2002, "m1", "blocked").await;
    let d = Dash::start(store.clone(), &[ADMIN, OTHER_ADMIN], PUBLIC).await;
    let b = d.sign_in(OTHER_ADMIN).await;
    let garbage = "f".repeat(64);
    for cookie in [None, Some(garbage.as_str()), Some("<script>")] {
        for path in [
            "/dashboard",
            "/dashboard?days=8",
            "/dashboard/orders.csv?from=2026-01-01&to=2026-01-02",
            "/dashboard/ledger.csv",
        ] {
            let a = d.get(path, cookie).await;
            assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path} {cookie:?}");
            assert_guarded(&a, path);
            assert_no_data(&a);
        }
        let a = d
            .post(
                &format!("/dashboard/outbox/{id}/retry"),
                cookie,
                &[("csrf", &b.csrf)],
            )
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    // The operator removed from ADMIN_USER_IDS (the instance restarted without them): their
    // cookie opens nothing, not even with its own CSRF token.
    let after = Dash::start(store.clone(), &[ADMIN], PUBLIC).await;
    let a = after.get("/dashboard", Some(&b.cookie)).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_no_data(&a);
    let a = after
        .post(
            &format!("/dashboard/outbox/{id}/retry"),
            Some(&b.cookie),
            &[("csrf", &b.csrf)],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = after
        .get(
            "/dashboard/orders.csv?from=2026-01-01&to=2026-01-02",
            Some(&b.cookie),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(
        store.outbox_row_state(id).await.unwrap().unwrap().0,
        "parked",
        "nothing changed"
    );
}

on_both_backends! {
    #[tokio::test]
    async fn a_parked_message_is_retried_only_with_the_sessions_csrf_token(db) {
        let store = open(&db).await;
        let id = parked(&store, 2002, "m1", "Forbidden: bot was blocked by the user").await;
        let sent = parked(&store, 2003, "m2", "x").await;
        store.mark_sent(sent, 2003, now()).await.unwrap();
        let d = Dash::start(store.clone(), &[ADMIN, OTHER_ADMIN], PUBLIC).await;
        let me = d.sign_in(ADMIN).await;
        let other = d.sign_in(OTHER_ADMIN).await;
        assert_ne!(me.csrf, other.csrf, "a token per session");
        let page = d.get("/dashboard", Some(&me.cookie)).await;
        assert!(page.body.contains(&format!("action=\"/dashboard/outbox/{id}/retry\"")));
        assert!(page.body.contains("Forbidden: bot was blocked by the user"), "the reason is shown");

        let path = format!("/dashboard/outbox/{id}/retry");
        let wrong = "0".repeat(64);
        for (what, form) in [
            ("no token", vec![]),
            ("an empty token", vec![("csrf", "")]),
            ("a wrong token", vec![("csrf", wrong.as_str())]),
            ("another session's token", vec![("csrf", other.csrf.as_str())]),
            ("the token in another field", vec![("token", me.csrf.as_str())]),
        ] {
            let a = d.post(&path, Some(&me.cookie), &form).await;
            assert_eq!(a.status, StatusCode::FORBIDDEN, "{what}");
            assert_guarded(&a, what);
            let (status, _) = store.outbox_row_state(id).await.unwrap().unwrap();
            assert_eq!(status, "parked", "{what}: row unchanged");
        }
        // Posted from another site (the browser says where from): refused too.
        let a = d
            .http
            .post(d.url(&path))
            .header("cookie", format!("dlb_dash={}", me.cookie))
            .header("origin", "https://evil.example")
            .form(&[("csrf", me.csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(a.status(), StatusCode::FORBIDDEN);
        assert_eq!(store.outbox_row_state(id).await.unwrap().unwrap().0, "parked");

        // A held message a notifier is sending right now (a later message for the user fell
        // due, so the held one goes first): the retry changes nothing, or a second notifier
        // could send it too.
        let first = douyin_link_bot::store::Notice::text("m3", "first");
        store.enqueue_private(&first, 2004, now() - 5).await.unwrap();
        let held = store.pending_for(2004).await.unwrap()[0].id;
        store.hold(held, "Forbidden: bot can't initiate conversation with a user", None, 0)
            .await
            .unwrap();
        let notice = douyin_link_bot::store::Notice::text("m4", "later");
        store.enqueue_private(&notice, 2004, now()).await.unwrap();
        let claimed = store.claim_due(now(), 10, now() + 60).await.unwrap();
        assert!(claimed.iter().any(|r| r.id == held), "{claimed:?}");
        let a = d
            .post(&format!("/dashboard/outbox/{held}/retry"), Some(&me.cookie), &[("csrf", &me.csrf)])
            .await;
        assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
        assert_eq!(store.outbox_row_state(held).await.unwrap().unwrap().0, "parked");
        assert!(
            store.claim_due(now(), 10, now() + 60).await.unwrap().iter().all(|r| r.id != held),
            "still claimed by the first notifier alone"
        );

        // Browsers that withhold where a form came from send `Origin: null`: the CSRF token
        // decides.
        let before = now();
        let a = d
            .http
            .post(d.url(&path))
            .header("cookie", format!("dlb_dash={}", me.cookie))
            .header("origin", "null")
            .form(&[("csrf", me.csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(a.status(), StatusCode::SEE_OTHER);
        let a = d.post(&path, Some(&me.cookie), &[("csrf", &me.csrf)]).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "already due: {}", a.body);
        let (status, due) = store.outbox_row_state(id).await.unwrap().unwrap();
        assert_eq!(status, "pending");
        assert!(due >= before && due <= now(), "due now: {due}");
        let due_rows = store.due_outbox(now(), 10).await.unwrap();
        assert!(due_rows.iter().any(|r| r.id == id), "the notifier finds it due");

        // Not parked any more, never parked, no such message, not a number: 404.
        for target in [id.to_string(), sent.to_string(), "999999".into(), "abc".into()] {
            let a = d
                .post(&format!("/dashboard/outbox/{target}/retry"), Some(&me.cookie), &[("csrf", &me.csrf)])
                .await;
            assert_eq!(a.status, StatusCode::NOT_FOUND, "{target}");
        }
        assert_eq!(store.outbox_row_state(sent).await.unwrap().unwrap().0, "sent");
    }
}

#[tokio::test]
async fn ranges_out_of_bounds_are_refused() {
    let db = TestDb::sqlite();
    let d = Dash::start(open(&db).await, &[ADMIN], PUBLIC).await;
    let b = d.sign_in(ADMIN).await;
    for days in ["7", "30", "90"] {
        let a = d
            .get(&format!("/dashboard?days={days}"), Some(&b.cookie))
            .await;
        assert_eq!(a.status, StatusCode::OK, "{days}");
        assert!(a
            .body
            .contains(&format!("data-days=\"{days}\" aria-current=\"page\"")));
    }
    for q in [
        "days=8",
        "days=0",
        "days=365",
        "days=-7",
        "days=abc",
        "days=",
        "days=7&days=90",
    ] {
        let a = d.get(&format!("/dashboard?{q}"), Some(&b.cookie)).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{q}");
        assert_guarded(&a, q);
        assert_no_data(&a);
    }
    for file in ["orders.csv", "ledger.csv"] {
        for q in [
            "",
            "from=2026-01-01",
            "from=2026-02-01&to=2026-01-01",
            "from=2025-01-01&to=2026-01-02",
            "from=2026-1-1&to=2026-01-05",
            "from=2026-02-30&to=2026-03-01",
            "from=yesterday&to=today",
        ] {
            let a = d
                .get(&format!("/dashboard/{file}?{q}"), Some(&b.cookie))
                .await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST, "{file}?{q}");
            assert!(a.headers.get("content-disposition").is_none());
        }
        let a = d
            .get(
                &format!("/dashboard/{file}?from=2025-01-01&to=2026-01-01"),
                Some(&b.cookie),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "366 days is allowed");
    }
}

on_both_backends! {
    #[tokio::test]
    async fn the_page_shows_the_figures_with_everything_from_outside_escaped(db) {
        let store = open(&db).await;
        let paid = now() - 600;
        let day = china_day(paid).format("%Y-%m-%d").to_string();
        let evil = "<script>alert(1)</script>";
        let orders = [
            order("71", "111", evil, 10_000, "PAY_SUCC", paid),
            order("72", "111", evil, 5_000, "SETTLE", paid),
            order("73", "222", "猫耳酥", 2_000, "REFUND", paid),
            order("74", "222", "猫耳酥", 3_000, "PAY_SUCC", paid - 40 * 86_400),
        ];
        ingest(&store, 2002, &orders).await;
        convert(&store, 2002, "\"><img src=x onerror=alert(1)>", -100_555, "111").await;
        parked(&store, 2002, "m1", "<b>blocked</b>").await;
        store.pay_out(2002, 100, "<img src=x>", 9, "k1", now()).await.unwrap().unwrap();
        let d = Dash::start(store.clone(), &[ADMIN], PUBLIC).await;
        let b = d.sign_in(ADMIN).await;
        let page = d.get("/dashboard?days=7", Some(&b.cookie)).await.body;

        // The day's row of each chart's table, beside its bars.
        let row = between(&page, "<table data-series=\"orders\">", "</table>").unwrap();
        let today = between(row, &format!("<tr data-day=\"{day}\">"), "</tr>").unwrap();
        assert!(today.contains("data-series=\"orders\" data-value=\"3\""), "{today}");
        assert!(today.contains("data-series=\"refunded\" data-value=\"1\""), "{today}");
        let gmv = between(&page, "<table data-series=\"gmv\">", "</table>").unwrap();
        assert!(gmv.contains("data-series=\"gmv\" data-value=\"15000\">¥150.00"), "{gmv}");
        let commission = between(&page, "<table data-series=\"commission\">", "</table>").unwrap();
        assert!(commission.contains("data-series=\"commission_estimated\" data-value=\"3000\""));
        assert!(commission.contains("data-series=\"commission_settled\" data-value=\"999\""));
        let chart = between(&page, "<figure id=\"chart-orders\">", "</figure>").unwrap();
        assert!(chart.contains(&format!("data-series=\"orders\" data-day=\"{day}\" data-value=\"3\"")));
        // 7 days of rows; the order 40 days old is outside them.
        assert_eq!(row.matches("<tr data-day=").count(), 7);
        assert!(page.contains("data-kpi=\"refund-rate\"><dt>退款率</dt><dd>33.3%</dd>"));

        let products = between(&page, "id=\"top-products\"", "</table>").unwrap();
        assert!(products.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{products}");
        assert!(products.find("data-key=\"111\"") < products.find("data-key=\"222\""));
        let groups = between(&page, "id=\"top-groups\"", "</table>").unwrap();
        assert!(groups.contains("data-key=\"-100555\""), "{groups}");
        let users = between(&page, "id=\"top-users\"", "</table>").unwrap();
        assert!(users.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"), "{users}");
        assert!(page.contains("&lt;b&gt;blocked&lt;/b&gt;"));
        assert!(page.contains("&lt;img src=x&gt;"));
        for raw in ["<script", "<img", "<b>blocked", "onerror=alert(1)>"] {
            assert!(!page.contains(raw), "{raw} unescaped");
        }
        let ledger = between(&page, "id=\"ledger\"", "</section>").unwrap();
        assert!(ledger.contains("data-kpi=\"paid-out\" data-value=\"100\""), "{ledger}");
        assert!(ledger.contains("data-kpi=\"owed-to-users\" data-value=\"399\""), "{ledger}");
        let queue = between(&page, "id=\"queue\"", "</section>").unwrap();
        assert!(queue.contains("data-kpi=\"parked\" data-value=\"1\""), "{queue}");
    }
}

on_both_backends! {
    #[tokio::test]
    async fn csv_downloads_carry_the_range_as_attachments_with_formulas_neutralized(db) {
        let store = open(&db).await;
        let paid = douyin_link_bot::poller::parse_china_time("2026-03-10 12:00:00").unwrap();
        let orders = [
            order("81", "111", "=HYPERLINK(\"http://x\",\"y\")", 10_000, "SETTLE", paid),
            order("82", "222", "猫耳酥, 10袋", 2_000, "PAY_SUCC", paid + 86_400),
            order("83", "222", "later", 2_000, "PAY_SUCC", paid + 3 * 86_400),
        ];
        ingest(&store, 2002, &orders).await;
        store.pay_out(2002, 100, "@SUM(A1)", 9, "k1", now()).await.unwrap().unwrap();
        let d = Dash::start(store, &[ADMIN], PUBLIC).await;
        let b = d.sign_in(ADMIN).await;
        let a = d.get("/dashboard/orders.csv?from=2026-03-10&to=2026-03-11", Some(&b.cookie)).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.header("content-type"), "text/csv; charset=utf-8");
        assert_eq!(
            a.header("content-disposition"),
            "attachment; filename=\"orders-2026-03-10-2026-03-11.csv\""
        );
        assert_guarded(&a, "csv");
        let lines: Vec<&str> = a.body.trim_start_matches('\u{feff}').split("\r\n").collect();
        assert!(lines[0].starts_with("order_id,product_id,product_name,flow_point,total_pay_amount_fen"));
        assert_eq!(lines.len(), 4, "header, two orders, the end: {lines:?}");
        assert!(lines[1].starts_with("81,111,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",SETTLE,10000,100.00,2000,1999,2002,2026-03-10 12:00:00"), "{}", lines[1]);
        assert!(lines[2].starts_with("82,222,\"猫耳酥, 10袋\",PAY_SUCC,2000,20.00"), "{}", lines[2]);

        let today = china_day(now()).format("%Y-%m-%d").to_string();
        let a = d.get(&format!("/dashboard/ledger.csv?from={today}&to={today}"), Some(&b.cookie)).await;
        assert_eq!(a.status, StatusCode::OK);
        assert!(a.header("content-disposition").starts_with("attachment; filename=\"ledger-"));
        let lines: Vec<&str> = a.body.trim_start_matches('\u{feff}').split("\r\n").collect();
        assert!(lines[0].starts_with("id,user_id,kind,order_id,amount_fen,amount"), "{}", lines[0]);
        let payout = lines.iter().find(|l| l.contains(",payout,")).expect("the payout line");
        assert!(payout.contains(",-100,-1.00,") && payout.contains(",'@SUM(A1),"), "{payout}");
        let a = d.get("/dashboard/ledger.csv?from=2020-01-01&to=2020-01-31", Some(&b.cookie)).await;
        assert_eq!(a.body.trim_start_matches('\u{feff}').split("\r\n").count(), 2, "header only");
    }
}

#[tokio::test]
async fn the_page_speaks_the_language_the_operator_uses_and_sign_out_ends_the_session() {
    let db = TestDb::sqlite();
    let store = open(&db).await;
    store
        .choose_lang(OTHER_ADMIN, Lang::En, now())
        .await
        .unwrap();
    let d = Dash::start(store, &[ADMIN, OTHER_ADMIN], PUBLIC).await;
    let zh = d.sign_in(ADMIN).await;
    let en = d.sign_in(OTHER_ADMIN).await;
    let page = d.get("/dashboard", Some(&zh.cookie)).await.body;
    assert!(page.contains("<html lang=\"zh-CN\">") && page.contains("<h1>运营面板</h1>"));
    let page = d.get("/dashboard", Some(&en.cookie)).await.body;
    assert!(page.contains("<html lang=\"en\">") && page.contains("<h1>Dashboard</h1>"));

    let a = d.post("/dashboard/logout", Some(&en.cookie), &[]).await;
    assert_eq!(
        a.status,
        StatusCode::FORBIDDEN,
        "sign-out needs the CSRF token too"
    );
    let a = d
        .post("/dashboard/logout", Some(&en.cookie), &[("csrf", &en.csrf)])
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(a.header("set-cookie").contains("Max-Age=0"));
    assert_eq!(
        d.get("/dashboard", Some(&en.cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        d.get("/dashboard", Some(&zh.cookie)).await.status,
        StatusCode::OK,
        "others stay"
    );
}

#[tokio::test]
async fn an_https_public_url_makes_the_cookie_secure() {
    let db = TestDb::sqlite();
    let d = Dash::start(open(&db).await, &[ADMIN], "https://bot.example.com").await;
    let token = d.token(ADMIN, 0).await;
    let a = d.get(&format!("/dashboard/login?t={token}"), None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.header("set-cookie").ends_with("; Secure"),
        "{}",
        a.header("set-cookie")
    );
    let cookie = cookie_value(a.header("set-cookie")).unwrap();
    // A form posted from the public origin is this site's.
    let page = d.get("/dashboard", Some(&cookie)).await.body;
    let csrf = between(&page, "name=\"csrf\" value=\"", "\"").unwrap();
    let a = d
        .http
        .post(d.url("/dashboard/logout"))
        .header("cookie", format!("dlb_dash={cookie}"))
        .header("origin", "https://bot.example.com")
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), StatusCode::SEE_OTHER);
}
