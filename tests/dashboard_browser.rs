//! The dashboard in a real browser: headless Chromium on a phone-sized screen, driven over
//! WebDriver (tests/support/webdriver.rs), opens the link that the real bot (`app::run_on`,
//! against a fake Bot API) sent an operator for `/dashboard`, and lands on the page. Every
//! chart is there as an SVG beside a table whose cells hold the figures computed here from
//! what was seeded; the page's own stylesheet applied (the Content-Security-Policy let it in)
//! and nothing went to the console as an error; nothing is wider than the phone; the link
//! does not open a second time. A full-page screenshot is written each run under the target
//! directory, and over `docs/dashboard.png` (and `docs/dashboard-en.png`), which the README
//! shows, with `UPDATE_SCREENSHOTS=1`.
//!
//! Needs Chromium and chromedriver (Debian: `chromium`, `chromium-driver`); fails without
//! them unless `SKIP_BROWSER_TESTS=1`.

mod support;

use chrono::NaiveDate;
use douyin_link_bot::lang::Lang;
use douyin_link_bot::store::{china_day, IngestOrder, NewConversion, Store};
use douyin_link_bot::telegram::texts::yuan;
use douyin_link_bot::veapi::{Order, ShareLink};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use support::dashboard::{now, order, parked};
use support::webdriver::{Chromedriver, Session, PHONE};
use support::*;
use wiremock::MockServer;

/// The seeded orders: id, product, title, paid (fen), state, seconds before now paid.
const ORDERS: [(&str, &str, &str, i64, &str, i64); 7] = [
    ("b1", "111", "猫耳酥 礼盒装 500g", 12_800, "PAY_SUCC", 600),
    ("b2", "111", "猫耳酥 礼盒装 500g", 6_600, "SETTLE", 900),
    (
        "b3",
        "111",
        "猫耳酥 礼盒装 500g",
        3_000,
        "SETTLE",
        86_400 + 600,
    ),
    ("b4", "222", "麻辣牛肉干", 4_500, "REFUND", 86_400 + 900),
    ("b5", "222", "麻辣牛肉干", 9_900, "SETTLE", 86_400 + 1_200),
    ("b6", "333", "保温杯 316", 25_000, "PAY_SUCC", 3 * 86_400),
    // Outside the 30 days shown.
    ("b7", "333", "保温杯 316", 3_300, "SETTLE", 45 * 86_400),
];
/// The seeded conversions: user, chat, product, seconds before now made.
const CONVERSIONS: [(u64, i64, &str, i64); 6] = [
    (2002, 2002, "111", 300),
    (2002, -100_555, "111", 400),
    (2003, -100_555, "222", 500),
    (2002, 2002, "222", 86_400 + 300),
    (2003, 2003, "111", 86_400 + 400),
    (2003, -100_555, "333", 4 * 86_400),
];
const USER: u64 = 2002;
const PERCENT: u8 = 50;
const PAID_OUT: i64 = 500;
const PARKED: [(u64, &str, &str); 2] = [
    (2002, "p1", "Forbidden: bot was blocked by the user"),
    (
        2003,
        "p2",
        "Forbidden: bot can't initiate conversation with a user",
    ),
];

/// What each chart must show per day, worked out from the seed with the rules the README
/// states: orders count on the day they were paid (refunded ones too, and counted again as
/// refunded); GMV and estimated commission leave refunded orders out; settled commission is
/// the real commission of settled orders, on their day of payment.
#[derive(Default)]
struct Expected {
    /// series key → day → value.
    series: BTreeMap<&'static str, BTreeMap<NaiveDate, i64>>,
    credited: i64,
}

fn expected(now: i64) -> Expected {
    let mut e = Expected::default();
    let mut add = |key: &'static str, day: NaiveDate, v: i64| {
        *e.series.entry(key).or_default().entry(day).or_default() += v;
    };
    for (_, _, _, pay, state, ago) in ORDERS {
        let day = china_day(now - ago);
        add("orders", day, 1);
        if state == "REFUND" {
            add("refunded", day, 1);
        } else {
            add("gmv", day, pay);
            add("commission_estimated", day, pay / 5);
        }
        if state == "SETTLE" {
            // support::dashboard::order: real commission is a fifth of the pay, less a fen.
            add("commission_settled", day, pay / 5 - 1);
        }
    }
    for (_, _, _, ago) in CONVERSIONS {
        add("conversions", china_day(now - ago), 1);
    }
    e.credited = ORDERS
        .iter()
        .filter(|o| o.4 == "SETTLE")
        .map(|o| (o.3 / 5 - 1) * i64::from(PERCENT) / 100)
        .sum();
    e
}

/// The charts and their series (`money`: values in fen, shown as yuan).
const CHARTS: [(&str, &[&str], bool); 4] = [
    ("conversions", &["conversions"], false),
    ("orders", &["orders", "refunded"], false),
    ("gmv", &["gmv"], true),
    (
        "commission",
        &["commission_estimated", "commission_settled"],
        true,
    ),
];

async fn seed(store: &Store, now: i64) {
    let orders: Vec<Order> = ORDERS
        .iter()
        .map(|(id, product, title, pay, state, ago)| {
            order(id, product, title, *pay, state, now - ago)
        })
        .collect();
    let items: Vec<IngestOrder> = orders
        .iter()
        .map(|o| IngestOrder {
            order: o,
            user_id: Some(USER),
            notices: vec![],
        })
        .collect();
    store.ingest_page_at(&items, now, PERCENT).await.unwrap();
    for (i, (user, chat, product, ago)) in CONVERSIONS.iter().enumerate() {
        let link = ShareLink {
            dy_password: format!("口令{i}"),
            share_link: Some(format!(
                "https://haohuo.jinritemai.com/ecommerce/trade/detail/index.html?id={product}"
            )),
            dy_deeplink: None,
            dy_zlink: None,
            coupon: None,
        };
        store
            .record_conversion(&NewConversion {
                user_id: *user,
                user_name: Some(if *user == USER { "小王" } else { "Lily" }),
                chat_id: *chat,
                product_key: product,
                external_info: "dlb_x",
                link: &link,
                created_at: now - ago,
            })
            .await
            .unwrap();
    }
    store
        .pay_out(USER, PAID_OUT, "微信转账", ALICE.user_id, "k1", now)
        .await
        .unwrap()
        .unwrap();
    for (user, key, reason) in PARKED {
        parked(store, user, key, reason).await;
    }
}

/// The dashboard link in a message to the operator.
fn link(m: &Value) -> Option<String> {
    let t = m["text"].as_str()?;
    let start = t.find("href=\"")? + 6;
    let end = t[start..].find('"')?;
    Some(t[start..start + end].replace("&amp;", "&"))
}

/// The operator asks the bot for a link in private; the `n`th link it sent.
async fn ask_link(tg: &FakeTelegram, n: usize) -> String {
    tg.push_text(&ALICE, "/dashboard");
    let sent = tg
        .wait_for(n, |m| m["chat_id"] == ALICE.chat_id && link(m).is_some())
        .await;
    link(&sent[n - 1]).unwrap()
}

/// Every cell of the table `series` of a chart: (day, series, data-value, shown text).
async fn cells(b: &Session, chart: &str) -> Vec<(String, String, i64, String)> {
    let v = b
        .script(
            "return [...document.querySelectorAll(arguments[0])].map(td => \
             [td.closest('tr').dataset.day, td.dataset.series, td.dataset.value, td.innerText])",
            json!([format!(
                "#chart-{chart} table[data-series=\"{chart}\"] td[data-series]"
            )]),
        )
        .await;
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c[0].as_str().unwrap().to_string(),
                c[1].as_str().unwrap().to_string(),
                c[2].as_str().unwrap().parse().unwrap(),
                c[3].as_str().unwrap().trim().to_string(),
            )
        })
        .collect()
}

fn shown(v: i64, money: bool) -> String {
    if money {
        yuan(v)
    } else {
        v.to_string()
    }
}

/// No console message at level SEVERE (errors, Content-Security-Policy violations).
async fn assert_quiet_console(b: &Session, when: &str) {
    let severe: Vec<_> = b
        .console()
        .await
        .into_iter()
        .filter(|(level, _)| level == "SEVERE")
        .collect();
    assert!(severe.is_empty(), "console errors {when}: {severe:#?}");
}

/// The page fits the phone's width: nothing scrolls sideways. Measured against the phone's
/// width, not `innerWidth`: on a mobile viewport the layout grows to what overflows it, and
/// `innerWidth` with it. Tables may be wider: they scroll inside their own box (`.scroll`).
async fn assert_fits_phone(b: &Session) {
    let v = b
        .script(
            "return [document.documentElement.scrollWidth, window.innerWidth, \
             [...document.querySelectorAll('body *')].filter(e => !e.closest('.scroll') && \
               (e.getBoundingClientRect().right > arguments[0] || \
                (e.scrollWidth > e.clientWidth && getComputedStyle(e).overflowX == 'visible'))) \
             .map(e => e.tagName + (e.dataset.kpi ? '[data-kpi=' + e.dataset.kpi + ']' : '') + \
               ': ' + e.scrollWidth + ' > ' + e.clientWidth + ' ' + e.textContent.slice(0, 60))]",
            json!([PHONE.0]),
        )
        .await;
    let (scroll, inner) = (v[0].as_i64().unwrap(), v[1].as_i64().unwrap());
    let phone = PHONE.0 as i64;
    assert!(
        scroll <= phone && inner <= phone,
        "wider than the phone ({phone}): scrollWidth {scroll}, innerWidth {inner}; overflowing: {:#}",
        v[2]
    );
}

/// Writes a full-page screenshot under the target directory and, with
/// `UPDATE_SCREENSHOTS=1`, over `docs/{name}`; checks it is the page's size.
async fn screenshot(b: &Session, name: &str) {
    let png = b.full_page_png().await;
    let height = b
        .script("return document.documentElement.scrollHeight", json!([]))
        .await
        .as_u64()
        .unwrap() as u32;
    assert_eq!(png_size(&png), Some((PHONE.0, height)), "the whole page");
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&out, &png).unwrap();
    eprintln!("screenshot: {} ({} bytes)", out.display(), png.len());
    if std::env::var("UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join(name), &png).unwrap();
    }
}

#[tokio::test]
async fn an_operator_opens_the_link_in_chromium_and_sees_every_chart_with_its_numbers() {
    let Some(driver) = Chromedriver::start().await else {
        return;
    };
    let db = TestDb::sqlite();
    let store = Store::open(db.url()).await.unwrap();
    let seeded_at = now();
    // Seeded before the bot starts, so its outbox never sees the parked messages pending.
    seed(&store, seeded_at).await;
    let want = expected(seeded_at);

    let tg = FakeTelegram::start().await;
    let veapi = MockServer::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (listen, public) = (addr.to_string(), format!("http://{addr}"));
    let config = config_with(
        &tg,
        &veapi,
        &db,
        &[
            ("ADMIN_USER_IDS", "1001"),
            ("HTTP_LISTEN", &listen),
            ("PUBLIC_URL", &public),
        ],
    );
    // The bot's poller finds no new order, so the page shows a poll that is up to date.
    orders_page(&veapi, None, orders_body(vec![], "")).await;
    let bot = RunningBot::start_on(config, listener);
    support::webdriver::wait_until("the first poll", || async {
        (!orders_calls(&veapi).await.is_empty()).then_some(())
    })
    .await;
    let url = ask_link(&tg, 1).await;
    assert!(
        url.starts_with(&format!("{public}/dashboard/login?t=")),
        "{url}"
    );

    let b = driver.session().await;
    b.goto(&url).await;
    // The sign-in page moves on by itself (a refresh of this site, so the SameSite=Strict
    // cookie goes with it), and the token is gone from the address bar.
    let landed = format!("{public}/dashboard");
    support::webdriver::wait_until("the dashboard after the sign-in", || async {
        (b.url().await == landed).then_some(())
    })
    .await;
    let h1 = b.find("h1").await;
    assert_eq!(b.text(&h1).await, "运营面板", "the page, not a refusal");
    assert!(b.find_all("#notice").await.is_empty());
    // The stylesheet applied: the Content-Security-Policy allowed it (its hash matches).
    let background = b
        .script(
            "return getComputedStyle(document.body).backgroundColor",
            json!([]),
        )
        .await;
    assert_eq!(background, "rgb(242, 243, 245)", "the page's own style");

    for (chart, series, money) in CHARTS {
        let figure = b.find(&format!("figure#chart-{chart}")).await;
        let svg = b.find_in(&figure, "svg").await;
        assert_eq!(svg.len(), 1, "{chart}: one chart");
        let size = b
            .script(
                "const r = arguments[0].getBoundingClientRect(); return [r.width, r.height]",
                json!([svg[0].as_arg()]),
            )
            .await;
        let (w, h) = (size[0].as_f64().unwrap(), size[1].as_f64().unwrap());
        assert!(
            w > 200.0 && w <= PHONE.0 as f64 && h > 50.0,
            "{chart}: drawn {w}×{h}"
        );
        let tables = b
            .find_in(&figure, &format!("table[data-series=\"{chart}\"]"))
            .await;
        assert_eq!(tables.len(), 1, "{chart}: its table beside it");

        let cells = cells(&b, chart).await;
        assert_eq!(
            cells.len(),
            30 * series.len(),
            "{chart}: 30 days of each series"
        );
        for (day, key, value, text) in &cells {
            let day_date: NaiveDate = day.parse().unwrap();
            let want = want.series[key.as_str()]
                .get(&day_date)
                .copied()
                .unwrap_or(0);
            assert_eq!(*value, want, "{chart} {key} on {day}");
            assert_eq!(*text, shown(want, money), "{chart} {key} on {day}: shown");
        }
        for key in series.iter() {
            let total: i64 = cells.iter().filter(|c| c.1 == *key).map(|c| c.2).sum();
            let in_range: i64 = want.series[key]
                .iter()
                .filter(|(d, _)| cells.iter().any(|c| c.0 == d.to_string()))
                .map(|(_, v)| v)
                .sum();
            assert_eq!(total, in_range, "{chart} {key}: nothing missing");
            assert!(total > 0, "{chart} {key}: the seed shows in it");
            // The chart's bars say the same numbers as the table.
            for (day, v) in &want.series[key] {
                if !cells.iter().any(|c| c.0 == day.to_string()) {
                    continue;
                }
                let bar = b
                    .find_in(
                        &svg[0],
                        &format!("[data-series=\"{key}\"][data-day=\"{day}\"]"),
                    )
                    .await;
                assert_eq!(bar.len(), 1, "{chart}: a bar for {key} on {day}");
                assert_eq!(
                    b.attr(&bar[0], "data-value").await.as_deref(),
                    Some(v.to_string().as_str()),
                    "{chart}: the bar for {key} on {day}"
                );
            }
        }
    }

    // The totals, in the operator's units.
    let sum = |key: &str| -> i64 {
        let days = cells_days(seeded_at);
        want.series
            .get(key)
            .map(|m| {
                m.iter()
                    .filter(|(d, _)| days.contains(d))
                    .map(|(_, v)| v)
                    .sum()
            })
            .unwrap_or(0)
    };
    for (kpi, v, money) in [
        ("conversions", sum("conversions"), false),
        ("orders", sum("orders"), false),
        ("refunded", sum("refunded"), false),
        ("gmv", sum("gmv"), true),
        ("commission-estimated", sum("commission_estimated"), true),
        ("commission-settled", sum("commission_settled"), true),
    ] {
        let dd = b.find(&format!("[data-kpi=\"{kpi}\"] dd")).await;
        assert_eq!(b.text(&dd).await, shown(v, money), "KPI {kpi}");
    }
    // The ledger and the queue.
    for (kpi, v) in [
        ("credited", want.credited),
        ("paid-out", PAID_OUT),
        ("owed-to-users", want.credited - PAID_OUT),
        ("parked", PARKED.len() as i64),
    ] {
        let e = b.find(&format!("[data-kpi=\"{kpi}\"]")).await;
        assert_eq!(b.attr(&e, "data-value").await, Some(v.to_string()), "{kpi}");
    }
    let parked_rows = b.find_all("table#parked tbody tr[data-id]").await;
    assert_eq!(parked_rows.len(), PARKED.len());
    let parked_table = b.text(&b.find("table#parked").await).await;
    for (_, _, reason) in PARKED {
        assert!(parked_table.contains(reason), "{reason} in {parked_table}");
    }
    let first = b.find("table#top-products tbody tr").await;
    assert_eq!(b.attr(&first, "data-key").await.as_deref(), Some("111"));

    assert_quiet_console(&b, "on the dashboard").await;
    assert_fits_phone(&b).await;
    screenshot(&b, "dashboard.png").await;

    // The same link again: refused, and the session it opened is still there.
    b.goto(&url).await;
    let notice = b.find("#notice").await;
    let says = b.text(&notice).await;
    assert!(says.contains("already used"), "{says}");
    assert!(b.find_all("figure").await.is_empty(), "no figures");
    assert!(
        b.url().await.contains("/dashboard/login?t="),
        "not redirected"
    );
    // The browser tells the status in its console, and nothing else went wrong (the refusal
    // page's style is allowed too).
    let console = b.console().await;
    assert!(
        console.len() == 1 && console[0].1.contains("status of 403 (Forbidden)"),
        "{console:#?}"
    );
    b.goto(&format!("{public}/dashboard")).await;
    b.find("figure#chart-orders").await;

    // In English, for the operator who chose it: a new link opens a page in their language.
    store
        .choose_lang(ALICE.user_id, Lang::En, now())
        .await
        .unwrap();
    let url = ask_link(&tg, 2).await;
    b.goto(&url).await;
    let h1 = b.find("h1").await;
    assert_eq!(b.text(&h1).await, "Dashboard");
    let html = b.find("html").await;
    assert_eq!(b.attr(&html, "lang").await.as_deref(), Some("en"));
    let dd = b.find("[data-kpi=\"gmv\"] dd").await;
    assert_eq!(b.text(&dd).await, yuan(sum("gmv")));
    assert_quiet_console(&b, "on the English page").await;
    assert_fits_phone(&b).await;
    screenshot(&b, "dashboard-en.png").await;

    b.end().await;
    bot.stop().await;
}

/// The 30 China days the page shows by default, ending today.
fn cells_days(now: i64) -> Vec<NaiveDate> {
    let today = china_day(now);
    (0..30).map(|i| today - chrono::Duration::days(i)).collect()
}
