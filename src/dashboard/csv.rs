//! The downloads: orders and ledger lines of a chosen range of days, as CSV (RFC 4180,
//! CRLF line ends, UTF-8 with a byte-order mark so spreadsheet programs read the Chinese
//! titles right).
//!
//! Product titles come from upstream and notes from operators: a cell that a spreadsheet
//! would take for a formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return)
//! gets a leading `'`, unless it is a plain number (a negative amount is not a formula).

use crate::cli::{csv_field, yuan, Line, CSV_HEADER};
use crate::store::{LedgerEntry, OrderExport};

/// The columns of the orders download.
pub const ORDER_HEADER: [&str; 13] = [
    "order_id",
    "product_id",
    "product_name",
    "flow_point",
    "total_pay_amount_fen",
    "total_pay_amount",
    "estimated_commission_fen",
    "real_commission_fen",
    "user_id",
    "pay_success_time",
    "settle_time",
    "refund_time",
    "attributed",
];

/// Whether `s` is a plain decimal number (`-12`, `3.40`).
fn is_number(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or_default();
    let frac = parts.next();
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// One cell: neutralized if a spreadsheet would run it, then quoted as RFC 4180 needs.
pub fn cell(s: &str) -> String {
    let risky = s.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_number(s);
    if risky {
        csv_field(&format!("'{s}"))
    } else {
        csv_field(s)
    }
}

fn row<S: AsRef<str>>(out: &mut String, fields: &[S]) {
    let cells: Vec<String> = fields.iter().map(|f| cell(f.as_ref())).collect();
    out.push_str(&cells.join(","));
    out.push_str("\r\n");
}

pub fn orders(rows: &[OrderExport]) -> String {
    let mut out = String::from("\u{feff}");
    row(&mut out, &ORDER_HEADER);
    for o in rows {
        row(
            &mut out,
            &[
                o.order_id.clone(),
                o.product_id.clone(),
                o.product_name.clone(),
                o.flow_point.clone(),
                o.total_pay_amount.to_string(),
                yuan(o.total_pay_amount),
                o.estimated_commission.to_string(),
                o.real_commission.to_string(),
                o.user_id.map(|u| u.to_string()).unwrap_or_default(),
                o.pay_success_time.clone(),
                o.settle_time.clone(),
                o.refund_time.clone(),
                if o.user_id.is_some() { "yes" } else { "no" }.to_string(),
            ],
        );
    }
    out
}

/// The ledger lines, in the columns of `douyin-link-bot ledger --csv`.
pub fn ledger(lines: &[LedgerEntry]) -> String {
    let mut out = String::from("\u{feff}");
    row(&mut out, &CSV_HEADER);
    for e in lines {
        row(&mut out, &Line::of(e).fields());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralized_and_numbers_are_not() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("+1+1"), "'+1+1");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("-2+3"), "'-2+3");
        assert_eq!(cell("\tx"), "'\tx");
        assert_eq!(cell("-12.34"), "-12.34");
        assert_eq!(cell("-5"), "-5");
        assert_eq!(cell("猫耳酥, 10袋"), "\"猫耳酥, 10袋\"");
        assert_eq!(cell("plain"), "plain");
        assert!(!is_number("-") && !is_number("1.") && !is_number("1e5"));
    }
}
