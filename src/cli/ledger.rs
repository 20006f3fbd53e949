//! `ledger` and `payout`: the rebate ledger from a terminal. The export is the audit trail
//! (every line, oldest first, as JSON lines or CSV); the payout writes one ledger line
//! through the store, which checks the balance and enqueues the user's message (the running
//! bot delivers it). Both need only `DATABASE_URL`.

use super::Failure;
use crate::config::Config;
use crate::money;
use crate::poller::china_time;
use crate::store::{LedgerEntry, PayoutRefused, Store};
use serde::Serialize;
use std::io::{self, BufWriter, Write};

/// Who a command-line payout is written as: not an operator's Telegram id (the terminal
/// does not say which operator typed it), but 0, "the command line"; its `op_key` starts
/// with `cli:` as well.
pub const CLI_OPERATOR: u64 = 0;

/// One ledger line as exported.
#[derive(Debug, Serialize)]
pub(crate) struct Line<'a> {
    id: i64,
    user_id: u64,
    kind: &'static str,
    order_id: Option<&'a str>,
    amount_fen: i64,
    /// The same in yuan, `"12.34"` (`"-12.34"` for a debit).
    amount: String,
    percent: Option<i64>,
    commission_fen: Option<i64>,
    operator_id: Option<u64>,
    note: Option<&'a str>,
    created_at: i64,
    /// `created_at` as China time, `YYYY-MM-DD HH:MM:SS`.
    created_at_china: String,
}

impl<'a> Line<'a> {
    pub(crate) fn of(e: &'a LedgerEntry) -> Line<'a> {
        Line {
            id: e.id,
            user_id: e.user_id,
            kind: e.kind.as_str(),
            order_id: e.order_id.as_deref(),
            amount_fen: e.amount,
            amount: yuan(e.amount),
            percent: e.percent,
            commission_fen: e.commission,
            operator_id: e.operator_id,
            note: e.note.as_deref(),
            created_at: e.created_at,
            created_at_china: china_time(e.created_at),
        }
    }

    /// The CSV fields, in [`CSV_HEADER`]'s order.
    pub(crate) fn fields(&self) -> [String; 12] {
        let opt = |v: Option<String>| v.unwrap_or_default();
        [
            self.id.to_string(),
            self.user_id.to_string(),
            self.kind.to_string(),
            opt(self.order_id.map(str::to_string)),
            self.amount_fen.to_string(),
            self.amount.clone(),
            opt(self.percent.map(|p| p.to_string())),
            opt(self.commission_fen.map(|c| c.to_string())),
            opt(self.operator_id.map(|o| o.to_string())),
            opt(self.note.map(str::to_string)),
            self.created_at.to_string(),
            self.created_at_china.clone(),
        ]
    }
}

pub(crate) const CSV_HEADER: [&str; 12] = [
    "id",
    "user_id",
    "kind",
    "order_id",
    "amount_fen",
    "amount",
    "percent",
    "commission_fen",
    "operator_id",
    "note",
    "created_at",
    "created_at_china",
];

/// Fen as yuan without a currency sign: `1234` → `12.34`, `-5` → `-0.05`.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// One CSV field as RFC 4180 writes it: quoted (quotes doubled) when it holds a comma, a
/// quote, a line break, or starts or ends with a space; as it is otherwise.
pub fn csv_field(s: &str) -> String {
    let needs_quotes = s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ');
    if needs_quotes {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_row<S: AsRef<str>>(out: &mut impl Write, fields: &[S]) -> io::Result<()> {
    let row: Vec<String> = fields.iter().map(|f| csv_field(f.as_ref())).collect();
    // CRLF ends a record (RFC 4180), so a note's own line breaks stay inside its quotes.
    out.write_all(row.join(",").as_bytes())?;
    out.write_all(b"\r\n")
}

async fn open(config: &Config) -> Result<Store, Failure> {
    Store::open(&config.database_url)
        .await
        .map_err(|e| Failure::Other(format!("the store cannot be opened: {e}")))
}

/// `ledger [--user N] [--csv]`.
pub async fn run_ledger(config: Config, user: Option<u64>, csv: bool) -> Result<(), Failure> {
    let store = open(&config).await?;
    let entries = store
        .ledger(user, None)
        .await
        .map_err(|e| Failure::Other(e.to_string()));
    store.close().await;
    let entries = entries?;
    let mut out = BufWriter::new(io::stdout().lock());
    let written: io::Result<()> = (|| {
        if csv {
            csv_row(&mut out, &CSV_HEADER)?;
        }
        for e in &entries {
            let line = Line::of(e);
            if csv {
                csv_row(&mut out, &line.fields())?;
            } else {
                serde_json::to_writer(&mut out, &line)?;
                out.write_all(b"\n")?;
            }
        }
        out.flush()
    })();
    match written {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::Other(e.to_string())),
        Ok(()) => {
            eprintln!("{} ledger lines", entries.len());
            Ok(())
        }
    }
}

/// A key no other payout has: the command line's, the time in nanoseconds and the process.
fn op_key() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("cli:{nanos}:{}", std::process::id())
}

/// `payout --user N --amount A --note T`.
pub async fn run_payout(
    config: Config,
    user: u64,
    amount: &str,
    note: &str,
) -> Result<(), Failure> {
    // Checked before the store is opened: bad input is a usage error (exit 2).
    let fen = money::parse_amount(amount).map_err(|e| Failure::Config(e.to_string()))?;
    let store = open(&config).await?;
    let now = chrono::Utc::now().timestamp();
    let outcome = store
        .pay_out(
            user,
            fen,
            // Bounded as in Telegram: it goes into the user's message.
            &crate::telegram::texts::bounded(note, crate::telegram::ledger::NOTE_CHARS),
            CLI_OPERATOR,
            &op_key(),
            now,
        )
        .await;
    store.close().await;
    match outcome.map_err(|e| Failure::Other(e.to_string()))? {
        Ok(balance) => {
            println!(
                "paid {} to user {user}; balance now {}",
                yuan(fen),
                yuan(balance)
            );
            Ok(())
        }
        Err(refused) => Err(Failure::Other(refusal(user, fen, &refused))),
    }
}

/// Why a payout was not written, for the operator at the terminal.
/// `adjust --user N --amount A --reason R`.
pub async fn run_adjust(
    config: Config,
    user: u64,
    amount: &str,
    reason: &str,
) -> Result<(), Failure> {
    let fen = money::parse_signed_amount(amount).map_err(|e| Failure::Config(e.to_string()))?;
    let reason = crate::telegram::texts::bounded(reason, crate::telegram::ledger::NOTE_CHARS);
    if reason.is_empty() {
        return Err(Failure::Config(
            "an adjustment needs a reason (--reason TEXT)".into(),
        ));
    }
    let store = open(&config).await?;
    let now = chrono::Utc::now().timestamp();
    let outcome = store
        .adjust(user, fen, &reason, CLI_OPERATOR, &op_key(), now)
        .await;
    store.close().await;
    match outcome.map_err(|e| Failure::Other(e.to_string()))? {
        Ok(balance) => {
            println!(
                "adjusted user {user} by {}; balance now {}",
                yuan(fen),
                yuan(balance)
            );
            Ok(())
        }
        Err(refused) => Err(Failure::Other(format!("adjustment refused: {refused}"))),
    }
}

fn refusal(user: u64, fen: i64, refused: &PayoutRefused) -> String {
    match refused {
        PayoutRefused::OverBalance { available, .. } if *available < 0 => format!(
            "payout refused: user {user}'s balance is negative ({}; they owe it after a \
             refund): no payout until it is positive again",
            yuan(*available)
        ),
        PayoutRefused::OverBalance { available, .. } => format!(
            "payout refused: {} is more than user {user}'s available balance {}",
            yuan(fen),
            yuan(*available)
        ),
        other => format!("payout refused: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_they_must_be() {
        for (raw, field) in [
            ("plain", "plain"),
            ("", ""),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("two\nlines", "\"two\nlines\""),
            ("cr\rlf", "\"cr\rlf\""),
            (" padded", "\" padded\""),
            ("返利 ¥1", "返利 ¥1"),
        ] {
            assert_eq!(csv_field(raw), field, "{raw:?}");
        }
        let mut out = Vec::new();
        csv_row(&mut out, &["1", "a,\"b\"\nc", ""]).unwrap();
        assert_eq!(out, b"1,\"a,\"\"b\"\"\nc\",\r\n");
    }

    #[test]
    fn yuan_is_plain_and_signed() {
        assert_eq!(yuan(1234), "12.34");
        assert_eq!(yuan(5), "0.05");
        assert_eq!(yuan(-5), "-0.05");
        assert_eq!(yuan(-120000), "-1200.00");
        assert_eq!(yuan(0), "0.00");
    }
}
