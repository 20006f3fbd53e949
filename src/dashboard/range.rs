//! The query parameters the dashboard takes, checked: the page's range (`days` = 7, 30 or
//! 90) and a download's (`from`, `to` as `YYYY-MM-DD`, China days, `from` ≤ `to`, at most
//! [`MAX_CSV_DAYS`] days). Anything else, or a parameter given twice, is refused (400).

use chrono::{Days, NaiveDate};

/// The ranges the page shows, in days; the first is the default.
pub const PAGE_DAYS: [u32; 3] = [30, 7, 90];
/// The longest download, in days.
pub const MAX_CSV_DAYS: i64 = 366;

/// A parameter that is not acceptable; the message is safe to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRange(pub &'static str);

fn pairs(query: Option<&str>) -> Result<Vec<(String, String)>, BadRange> {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    for (i, (k, _)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(seen, _)| seen == k) {
            return Err(BadRange("a parameter is given twice"));
        }
    }
    Ok(pairs)
}

fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The page's `days`: 7, 30 (default) or 90.
pub fn page_days(query: Option<&str>) -> Result<u32, BadRange> {
    let pairs = pairs(query)?;
    match get(&pairs, "days") {
        None => Ok(PAGE_DAYS[0]),
        Some(d) => d
            .parse::<u32>()
            .ok()
            .filter(|d| PAGE_DAYS.contains(d))
            .ok_or(BadRange("days must be 7, 30 or 90")),
    }
}

/// The `days` China days up to and including `today`.
pub fn last_days(today: NaiveDate, days: u32) -> (NaiveDate, NaiveDate) {
    let from = today
        .checked_sub_days(Days::new(u64::from(days.saturating_sub(1))))
        .unwrap_or(today);
    (from, today)
}

/// A download's `from` and `to`.
pub fn csv_range(query: Option<&str>) -> Result<(NaiveDate, NaiveDate), BadRange> {
    let pairs = pairs(query)?;
    let date = |key| {
        let raw = get(&pairs, key).ok_or(BadRange("from and to are required (YYYY-MM-DD)"))?;
        // Exactly YYYY-MM-DD: chrono alone would take "2026-1-5".
        if raw.len() != 10 {
            return Err(BadRange("dates are YYYY-MM-DD"));
        }
        NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| BadRange("dates are YYYY-MM-DD"))
    };
    let (from, to) = (date("from")?, date("to")?);
    if from > to {
        return Err(BadRange("from is after to"));
    }
    if (to - from).num_days() + 1 > MAX_CSV_DAYS {
        return Err(BadRange("at most 366 days at once"));
    }
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_page_takes_7_30_or_90_days_only() {
        assert_eq!(page_days(None), Ok(30));
        assert_eq!(page_days(Some("days=7")), Ok(7));
        assert_eq!(page_days(Some("days=90")), Ok(90));
        for bad in [
            "days=0",
            "days=8",
            "days=-7",
            "days=91",
            "days=x",
            "days=",
            "days=7&days=30",
        ] {
            assert!(page_days(Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(
            last_days(d("2026-03-10"), 7),
            (d("2026-03-04"), d("2026-03-10"))
        );
    }

    #[test]
    fn downloads_take_a_bounded_ordered_range() {
        assert_eq!(
            csv_range(Some("from=2026-01-01&to=2026-01-31")),
            Ok((d("2026-01-01"), d("2026-01-31")))
        );
        assert!(
            csv_range(Some("from=2025-01-01&to=2026-01-01")).is_ok(),
            "366 days"
        );
        for bad in [
            "from=2025-01-01&to=2026-01-02",
            "from=2026-02-01&to=2026-01-01",
            "from=2026-1-1&to=2026-01-02",
            "from=2026-02-30&to=2026-03-01",
            "to=2026-01-01",
            "",
            "from=2026-01-01&to=2026-01-02&to=2026-01-03",
        ] {
            assert!(csv_range(Some(bad)).is_err(), "{bad}");
        }
    }
}
