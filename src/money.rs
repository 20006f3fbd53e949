//! Money as people type it: an amount in yuan with at most two decimals, read strictly into
//! integer fen. Anything else (`1e3`, `-5`, `12.345`, `¥12`, `12,34`, `0`) is refused with
//! the accepted format, never guessed: a payout is the one place a typo costs real money.

use thiserror::Error;

/// The largest amount accepted: ¥10,000,000.00 (far above any rebate; keeps every sum of
/// amounts far from overflowing).
pub const MAX_FEN: i64 = 1_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{given:?} is not an amount: write yuan with at most two decimals, like 12 or 12.34 (more than 0, at most 10000000)")]
pub struct AmountError {
    pub given: String,
}

/// `12`, `12.3`, `12.34` → fen. Digits and one `.` only; more than 0, at most [`MAX_FEN`].
pub fn parse_amount(s: &str) -> Result<i64, AmountError> {
    let err = || AmountError {
        given: s.to_string(),
    };
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, f),
        None => (s, ""),
    };
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 8 || !digits(whole) || frac.len() > 2 || !digits(frac) {
        return Err(err());
    }
    if s.contains('.') && frac.is_empty() {
        return Err(err());
    }
    let whole: i64 = whole.parse().map_err(|_| err())?;
    let frac: i64 = format!("{frac:0<2}").parse().map_err(|_| err())?;
    let fen = whole * 100 + frac;
    if fen <= 0 || fen > MAX_FEN {
        return Err(err());
    }
    Ok(fen)
}

/// An adjustment: like [`parse_amount`], with an explicit leading `-` for a debit.
pub fn parse_signed_amount(s: &str) -> Result<i64, AmountError> {
    match s.strip_prefix('-') {
        Some(rest) => parse_amount(rest).map(|f| -f).map_err(|_| AmountError {
            given: s.to_string(),
        }),
        None => parse_amount(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_positive_yuan_with_two_decimals_at_most() {
        for (s, fen) in [
            ("12", 1200),
            ("12.3", 1230),
            ("12.34", 1234),
            ("0.01", 1),
            ("007", 700),
        ] {
            assert_eq!(parse_amount(s), Ok(fen), "{s}");
        }
        for s in [
            "1e3",
            "-5",
            "12.345",
            "¥12",
            "12,34",
            "0",
            "0.00",
            "",
            ".5",
            "5.",
            "+5",
            " 5",
            "5 ",
            "1_000",
            "１２",
            "NaN",
            "inf",
            "100000000",
            "12.3.4",
        ] {
            assert!(parse_amount(s).is_err(), "{s:?} accepted");
        }
        assert!(parse_amount("12,34")
            .unwrap_err()
            .to_string()
            .contains("12.34"));
        assert_eq!(parse_signed_amount("-3.5"), Ok(-350));
        assert_eq!(parse_signed_amount("3.5"), Ok(350));
        for s in ["--3", "-", "-0", "+3", "-1e3", "- 3"] {
            assert!(parse_signed_amount(s).is_err(), "{s:?} accepted");
        }
    }
}
