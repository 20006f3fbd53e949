//! The dashboard page: server-rendered HTML, one stylesheet inline (allowed by its hash),
//! no script. Every chart sits beside a table of its numbers; charts and tables carry stable
//! ids and `data-` attributes (`<figure id="chart-orders">`, `<table data-series="orders">`,
//! `<td data-series="orders" data-value="3">`) for tests and browsers alike. Everything that
//! comes from outside (product titles, user names, reasons, notes) is escaped.

use super::auth::PATH;
use super::esc;
use super::svg::{bars, show, Series};
use super::words::{words, Words};
use crate::lang::Lang;
use crate::poller::china_time;
use crate::store::{DayRow, LedgerEntry, LedgerTotals, OutboxCounts, ParkedRow, TopRow};
use chrono::NaiveDate;
use std::fmt::Write;

/// The page's stylesheet (its hash is in the Content-Security-Policy). Narrow screens first:
/// a chart above its table; side by side from 760 px.
pub const STYLE: &str = "\
body{font:15px/1.45 system-ui,-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;margin:0;padding:10px;color:#1d2129;background:#f2f3f5}\
main{max-width:1180px;margin:0 auto}\
header{display:flex;flex-wrap:wrap;align-items:center;gap:8px 16px;margin:0 0 10px}\
h1{font-size:20px;margin:0}h2{font-size:17px;margin:0 0 8px}\
nav a{display:inline-block;padding:4px 10px;border-radius:14px;background:#fff;color:#165dff;text-decoration:none;margin-right:4px}\
nav a[aria-current]{background:#165dff;color:#fff}\
section{background:#fff;border-radius:8px;padding:12px;margin:0 0 12px}\
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:8px;margin:0}\
.kpis div{background:#f7f8fa;border-radius:6px;padding:8px}\
.kpis dt{font-size:13px;color:#4e5969}.kpis dd{margin:0;font-size:18px;font-weight:600;overflow-wrap:anywhere}\
figure{margin:0 0 16px;display:grid;gap:8px}\
figcaption{font-weight:600}\
@media(min-width:760px){figure{grid-template-columns:3fr 2fr;align-items:start}figcaption{grid-column:1/-1}}\
svg{width:100%;height:auto;display:block}\
.scroll{overflow:auto;max-height:340px}\
table{border-collapse:collapse;width:100%;font-size:13px}\
th,td{padding:4px 6px;border-bottom:1px solid #e5e6eb;text-align:right;white-space:nowrap}\
th:first-child,td:first-child{text-align:left}\
td.text{text-align:left;white-space:normal;min-width:10em;word-break:break-word}\
.warn{color:#c9353f}\
form{margin:0}\
button{font:inherit;padding:4px 12px;border:1px solid #165dff;border-radius:4px;background:#fff;color:#165dff}\
input{font:inherit;padding:3px}\
.row{display:flex;flex-wrap:wrap;gap:8px;align-items:center}\
footer{color:#86909c;font-size:12px}";

/// Everything the page shows, read for one request.
pub struct Report {
    pub days: u32,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub series: Vec<DayRow>,
    pub products: Vec<TopRow>,
    pub users: Vec<TopRow>,
    pub groups: Vec<TopRow>,
    pub ledger: LedgerTotals,
    pub payouts: Vec<LedgerEntry>,
    pub outbox: OutboxCounts,
    pub parked: Vec<ParkedRow>,
    pub incidents: Vec<(String, i64)>,
    /// The poll watermark (unix), if polled.
    pub watermark: Option<i64>,
    /// Who holds the poller's lease, and until when.
    pub poller: Option<(String, i64)>,
    pub instances: i64,
    pub now: i64,
}

/// `refunded` of `orders` as a percentage with one decimal, integer arithmetic.
pub fn rate(refunded: i64, orders: i64) -> String {
    if orders <= 0 {
        return "0.0%".into();
    }
    let permille = refunded * 1000 / orders;
    format!("{}.{}%", permille / 10, permille % 10)
}

/// A shell around `body`: the document, its language and stylesheet.
pub fn document(lang: &str, title: &str, body: &str) -> String {
    document_with(lang, title, "", body)
}

/// [`document`] with more in its head (`head`: trusted markup of this module).
fn document_with(lang: &str, title: &str, head: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex, nofollow\">{head}\
         <title>{}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        esc(title)
    )
}

/// The answer to a used login link: the session cookie comes with it, and the page moves
/// on to the dashboard by itself. Not a 303: opened from another site (web.telegram.org), a
/// redirect is still that site's navigation and the `SameSite=Strict` cookie it set would
/// not be sent with it; this page's own refresh is a navigation of this site.
pub fn opening() -> String {
    document_with(
        "zh-CN",
        "douyin-link-bot",
        &format!("<meta http-equiv=\"refresh\" content=\"0; url={PATH}\">"),
        &format!(
            "<section id=\"notice\"><p>已登录，正在打开运营面板…</p>\
             <p lang=\"en\">Signed in: opening the dashboard…</p>\
             <p><a href=\"{PATH}\">{PATH}</a></p></section>"
        ),
    )
}

/// A refusal or error page in both languages (the reader's is not known): no data.
pub fn notice(zh: &str, en: &str, link_back: bool) -> String {
    let back = if link_back {
        format!("<p><a href=\"{PATH}\">{PATH}</a></p>")
    } else {
        String::new()
    };
    document(
        "zh-CN",
        "douyin-link-bot",
        &format!(
            "<section id=\"notice\"><p>{}</p><p lang=\"en\">{}</p>{back}</section>",
            esc(zh),
            esc(en)
        ),
    )
}

/// The whole page.
pub fn render(lang: Lang, r: &Report, csrf: &str) -> String {
    let w = words(lang);
    let mut b = String::new();
    header(&mut b, w, r, csrf);
    overview(&mut b, w, r);
    charts(&mut b, w, r);
    tops(&mut b, w, r);
    ledger(&mut b, w, r);
    queue(&mut b, w, r, csrf);
    health(&mut b, w, r);
    downloads(&mut b, w, r);
    let _ = write!(
        b,
        "<footer>{} {}</footer>",
        esc(w.generated),
        esc(&china_time(r.now))
    );
    document(w.lang, w.title, &b)
}

fn header(b: &mut String, w: &Words, r: &Report, csrf: &str) {
    let _ = write!(
        b,
        "<header><h1>{}</h1><nav aria-label=\"{}\">",
        esc(w.title),
        esc(w.range)
    );
    for d in [7, 30, 90] {
        let current = if d == r.days {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(
            b,
            "<a href=\"{PATH}?days={d}\" data-days=\"{d}\"{current}>{d} {}</a>",
            esc(w.days)
        );
    }
    let _ = write!(
        b,
        "</nav><form method=\"post\" action=\"{PATH}/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">{}</button></form></header>",
        esc(csrf),
        esc(w.sign_out)
    );
}

fn overview(b: &mut String, w: &Words, r: &Report) {
    let sum = |f: fn(&DayRow) -> i64| r.series.iter().map(f).sum::<i64>();
    let (orders, refunded) = (sum(|d| d.orders), sum(|d| d.refunded));
    let kpis: [(&str, &str, String); 7] = [
        (
            "conversions",
            w.conversions,
            sum(|d| d.conversions).to_string(),
        ),
        ("orders", w.orders, orders.to_string()),
        ("refunded", w.refunded, refunded.to_string()),
        ("refund-rate", w.refund_rate, rate(refunded, orders)),
        ("gmv", w.gmv, show(sum(|d| d.gmv), true)),
        (
            "commission-estimated",
            w.estimated,
            show(sum(|d| d.commission_estimated), true),
        ),
        (
            "commission-settled",
            w.settled,
            show(sum(|d| d.commission_settled), true),
        ),
    ];
    let _ = write!(
        b,
        "<section id=\"overview\"><h2>{} · {} – {}</h2><dl class=\"kpis\">",
        esc(w.overview),
        r.from,
        r.to
    );
    for (key, label, value) in kpis {
        let label = match key {
            "commission-estimated" | "commission-settled" => format!("{} ({label})", w.commission),
            _ => label.to_string(),
        };
        let _ = write!(
            b,
            "<div data-kpi=\"{key}\"><dt>{}</dt><dd>{}</dd></div>",
            esc(&label),
            esc(&value)
        );
    }
    b.push_str("</dl></section>");
}

/// A chart and the table of its numbers.
fn figure(
    b: &mut String,
    w: &Words,
    id: &str,
    title: &str,
    days: &[NaiveDate],
    series: &[Series<'_>],
    money: bool,
) {
    let _ = write!(
        b,
        "<figure id=\"chart-{id}\"><figcaption>{}</figcaption>{}<div class=\"scroll\"><table data-series=\"{id}\"><thead><tr><th>{}</th>",
        esc(title),
        bars(title, days, series, money),
        esc(w.day)
    );
    for s in series {
        let _ = write!(b, "<th data-series=\"{}\">{}</th>", s.key, esc(s.label));
    }
    b.push_str("</tr></thead><tbody>");
    for (i, day) in days.iter().enumerate() {
        let day = day.format("%Y-%m-%d");
        let _ = write!(b, "<tr data-day=\"{day}\"><td>{day}</td>");
        for s in series {
            let v = s.values.get(i).copied().unwrap_or(0);
            let _ = write!(
                b,
                "<td data-series=\"{}\" data-value=\"{v}\">{}</td>",
                s.key,
                esc(&show(v, money))
            );
        }
        b.push_str("</tr>");
    }
    b.push_str("</tbody></table></div></figure>");
}

fn charts(b: &mut String, w: &Words, r: &Report) {
    let days: Vec<NaiveDate> = r.series.iter().map(|d| d.day).collect();
    let col = |f: fn(&DayRow) -> i64| r.series.iter().map(f).collect::<Vec<i64>>();
    b.push_str("<section id=\"charts\">");
    let conversions = [Series {
        key: "conversions",
        label: w.conversions,
        values: col(|d| d.conversions),
        fill: "#14c9c9",
    }];
    figure(
        b,
        w,
        "conversions",
        w.conversions,
        &days,
        &conversions,
        false,
    );
    let orders = [
        Series {
            key: "orders",
            label: w.orders,
            values: col(|d| d.orders),
            fill: "#165dff",
        },
        Series {
            key: "refunded",
            label: w.refunded,
            values: col(|d| d.refunded),
            fill: "#f53f3f",
        },
    ];
    figure(b, w, "orders", w.orders, &days, &orders, false);
    let gmv = [Series {
        key: "gmv",
        label: w.gmv,
        values: col(|d| d.gmv),
        fill: "#722ed1",
    }];
    figure(b, w, "gmv", w.gmv, &days, &gmv, true);
    let commission = [
        Series {
            key: "commission_estimated",
            label: w.estimated,
            values: col(|d| d.commission_estimated),
            fill: "#ff7d00",
        },
        Series {
            key: "commission_settled",
            label: w.settled,
            values: col(|d| d.commission_settled),
            fill: "#00b42a",
        },
    ];
    figure(b, w, "commission", w.commission, &days, &commission, true);
    b.push_str("</section>");
}

fn top_table(b: &mut String, w: &Words, id: &str, title: &str, what: &str, rows: &[TopRow]) {
    let _ = write!(
        b,
        "<h2>{}</h2><div class=\"scroll\"><table id=\"top-{id}\" data-series=\"top-{id}\"><thead><tr><th>{}</th><th>{}</th><th>{} ({})</th><th>{} ({})</th></tr></thead><tbody>",
        esc(title),
        esc(what),
        esc(w.orders),
        esc(w.commission),
        esc(w.estimated),
        esc(w.commission),
        esc(w.settled),
    );
    if rows.is_empty() {
        let _ = write!(b, "<tr><td colspan=\"4\">{}</td></tr>", esc(w.none));
    }
    for t in rows {
        let name = match &t.label {
            Some(l) => format!("{} <small>{}</small>", esc(l), esc(&t.key)),
            None => esc(&t.key),
        };
        let _ = write!(
            b,
            "<tr data-key=\"{}\"><td class=\"text\">{name}</td><td data-value=\"{}\">{}</td><td data-value=\"{}\">{}</td><td data-value=\"{}\">{}</td></tr>",
            esc(&t.key),
            t.orders,
            t.orders,
            t.commission_estimated,
            esc(&show(t.commission_estimated, true)),
            t.commission_settled,
            esc(&show(t.commission_settled, true)),
        );
    }
    b.push_str("</tbody></table></div>");
}

fn tops(b: &mut String, w: &Words, r: &Report) {
    b.push_str("<section id=\"top\">");
    top_table(b, w, "products", w.top_products, w.product, &r.products);
    top_table(b, w, "users", w.top_users, w.user, &r.users);
    top_table(b, w, "groups", w.top_groups, w.group, &r.groups);
    b.push_str("</section>");
}

fn ledger(b: &mut String, w: &Words, r: &Report) {
    let l = &r.ledger;
    let _ = write!(
        b,
        "<section id=\"ledger\"><h2>{}</h2><dl class=\"kpis\">",
        esc(w.ledger)
    );
    for (key, label, v) in [
        ("owed-to-users", w.owed_to_users, l.owed_to_users),
        ("owed-by-users", w.owed_by_users, l.owed_by_users),
        ("credited", w.credited, l.credited),
        ("adjusted", w.adjusted, l.adjusted),
        ("paid-out", w.paid_out, l.paid_out),
    ] {
        let _ = write!(
            b,
            "<div data-kpi=\"{key}\" data-value=\"{v}\"><dt>{}</dt><dd>{}</dd></div>",
            esc(label),
            esc(&show(v, true))
        );
    }
    let _ = write!(
        b,
        "</dl><h2>{}</h2><div class=\"scroll\"><table id=\"payouts\" data-series=\"payouts\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        esc(w.recent_payouts),
        esc(w.when),
        esc(w.user),
        esc(w.amount),
        esc(w.note)
    );
    if r.payouts.is_empty() {
        let _ = write!(b, "<tr><td colspan=\"4\">{}</td></tr>", esc(w.none));
    }
    for p in &r.payouts {
        let _ = write!(
            b,
            "<tr data-id=\"{}\"><td>{}</td><td>{}</td><td data-value=\"{}\">{}</td><td class=\"text\">{}</td></tr>",
            p.id,
            esc(&china_time(p.created_at)),
            p.user_id,
            -p.amount,
            esc(&show(-p.amount, true)),
            esc(p.note.as_deref().unwrap_or_default())
        );
    }
    b.push_str("</tbody></table></div></section>");
}

fn queue(b: &mut String, w: &Words, r: &Report, csrf: &str) {
    let o = &r.outbox;
    let _ = write!(
        b,
        "<section id=\"queue\"><h2>{}</h2><dl class=\"kpis\">",
        esc(w.queue)
    );
    for (key, label, v) in [
        ("pending", w.pending, o.pending),
        ("parked", w.parked, o.parked),
        ("sent", w.sent, o.sent),
    ] {
        let _ = write!(
            b,
            "<div data-kpi=\"{key}\" data-value=\"{v}\"><dt>{}</dt><dd>{v}</dd></div>",
            esc(label)
        );
    }
    let _ = write!(
        b,
        "</dl><div class=\"scroll\"><table id=\"parked\" data-series=\"parked\"><thead><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr></thead><tbody>",
        esc(w.user),
        esc(w.when),
        esc(w.attempts),
        esc(w.reason)
    );
    if r.parked.is_empty() {
        let _ = write!(b, "<tr><td colspan=\"6\">{}</td></tr>", esc(w.none));
    }
    for p in &r.parked {
        let state = if p.held { w.held } else { w.given_up };
        let _ = write!(
            b,
            "<tr data-id=\"{id}\" data-held=\"{held}\"><td>{id}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"text\">{} · {}</td>\
             <td><form method=\"post\" action=\"{PATH}/outbox/{id}/retry\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">{}</button></form></td></tr>",
            p.user_id,
            esc(&china_time(p.created_at)),
            p.attempts,
            esc(state),
            esc(p.reason.as_deref().unwrap_or_default()),
            esc(csrf),
            esc(w.retry),
            id = p.id,
            held = p.held,
        );
    }
    b.push_str("</tbody></table></div></section>");
}

fn health(b: &mut String, w: &Words, r: &Report) {
    let _ = write!(b, "<section id=\"incidents\"><h2>{}</h2>", esc(w.incidents));
    if r.incidents.is_empty() {
        let _ = write!(b, "<p data-open=\"0\">{}</p>", esc(w.no_incident));
    } else {
        let _ = write!(
            b,
            "<table data-series=\"incidents\" data-open=\"{}\"><thead><tr><th>{}</th><th>{}</th></tr></thead><tbody>",
            r.incidents.len(),
            esc(w.source),
            esc(w.since)
        );
        for (source, since) in &r.incidents {
            let _ = write!(
                b,
                "<tr class=\"warn\" data-source=\"{}\"><td>{}</td><td>{}</td></tr>",
                esc(source),
                esc(source),
                esc(&china_time(*since))
            );
        }
        b.push_str("</tbody></table>");
    }
    b.push_str("</section>");
    let lag = r.watermark.map(|wm| (r.now - wm).max(0));
    let lag_text = lag.map_or_else(
        || w.not_polled.to_string(),
        |l| format!("{l} {}", w.seconds),
    );
    let holder = r
        .poller
        .as_ref()
        .map_or_else(|| w.nobody.to_string(), |(h, _)| h.clone());
    let _ = write!(
        b,
        "<section id=\"poller\"><h2>{}</h2><dl class=\"kpis\">\
         <div data-kpi=\"poll-lag\" data-value=\"{}\"><dt>{}</dt><dd>{}</dd></div>\
         <div data-kpi=\"poller-holder\"><dt>{}</dt><dd>{}</dd></div>\
         <div data-kpi=\"instances\" data-value=\"{}\"><dt>{}</dt><dd>{}</dd></div></dl></section>",
        esc(w.poller),
        lag.map_or_else(String::new, |l| l.to_string()),
        esc(w.poll_lag),
        esc(&lag_text),
        esc(w.holder),
        esc(&holder),
        r.instances,
        esc(w.instances),
        r.instances,
    );
}

fn downloads(b: &mut String, w: &Words, r: &Report) {
    let _ = write!(
        b,
        "<section id=\"downloads\"><h2>{}</h2><form method=\"get\" action=\"{PATH}/orders.csv\" class=\"row\">\
         <label>{} <input type=\"date\" name=\"from\" value=\"{}\" required></label>\
         <label>{} <input type=\"date\" name=\"to\" value=\"{}\" required></label>\
         <button type=\"submit\" id=\"download-orders\">{}</button>\
         <button type=\"submit\" id=\"download-ledger\" formaction=\"{PATH}/ledger.csv\">{}</button></form></section>",
        esc(w.downloads),
        esc(w.from),
        r.from,
        esc(w.to),
        r.to,
        esc(w.download_orders),
        esc(w.download_ledger),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refund_rates_are_integer_percentages() {
        assert_eq!(rate(0, 0), "0.0%");
        assert_eq!(rate(1, 3), "33.3%");
        assert_eq!(rate(3, 3), "100.0%");
    }
}
