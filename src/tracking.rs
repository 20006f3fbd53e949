//! The `external_info` codec: which Telegram user a converted link belongs to.
//!
//! `external_info` comes back on every order bought through the link, so it must survive the
//! round trip through Douyin unchanged: only `[0-9A-Za-z_]`, at most 20 characters (the
//! tightest limit among Douyin's endpoints). The format is `dlb2_` + the user id in lowercase
//! base 36 + one ISO 7064 MOD 37,36 check character. The prefix marks the value as ours; the
//! check character catches every single changed character (each step of the check is a
//! bijection, so one substitution always changes the result), and the canonical form (no
//! leading zeros, lowercase only) rejects values that merely look like ours, so orders from
//! other channels notify nobody.
//!
//! Values issued before this format (`dlb_` + base 36 + a position-weighted mod-36 check,
//! which misses some changes) are still in the wild on passwords users hold. They decode to a
//! *candidate* user only ([`Attribution::Legacy`]); the poller accepts the candidate when the
//! store shows it issued that exact value to that user.

use thiserror::Error;

pub const PREFIX: &str = "dlb2_";
/// The earlier format's prefix; see [`Attribution::Legacy`].
pub const LEGACY_PREFIX: &str = "dlb_";
/// `dlb2_` (5) + base 36 of u64::MAX (13) + check (1).
pub const MAX_LEN: usize = 19;

const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
/// Base-36 digits of u64::MAX.
const MAX_DIGITS: usize = 13;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("external_info does not carry this bot's prefix")]
    NotOurs,
    #[error("external_info is malformed")]
    Malformed,
    #[error("external_info fails its check character")]
    BadCheck,
}

/// What an order's `external_info` says about who it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribution {
    /// A current-format value: this user.
    User(u64),
    /// An earlier-format value that passes its own (weaker) check: this user if, and only if,
    /// the store issued exactly this value to them.
    Legacy(u64),
    /// Carries one of our prefixes but does not decode: counted and logged, never a user.
    Corrupt(DecodeError),
    /// Another channel's value (or none).
    Foreign,
}

/// Encodes a Telegram user id.
pub fn encode(user_id: u64) -> String {
    let mut digits = [0u8; MAX_DIGITS];
    let mut n = user_id;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = ALPHABET[(n % 36) as usize];
        n /= 36;
        if n == 0 {
            break;
        }
    }
    let body = &digits[i..];
    let mut out = String::with_capacity(MAX_LEN);
    out.push_str(PREFIX);
    out.extend(body.iter().map(|&b| b as char));
    out.push(ALPHABET[mod37_36(body)] as char);
    out
}

/// Decodes a value produced by [`encode`]; anything else, earlier formats included, is
/// rejected.
pub fn decode(value: &str) -> Result<u64, DecodeError> {
    let rest = value.strip_prefix(PREFIX).ok_or(DecodeError::NotOurs)?;
    decode_body(rest, mod37_36)
}

/// Reads any value an order may carry.
pub fn attribute(value: &str) -> Attribution {
    if value.starts_with(PREFIX) {
        return match decode(value) {
            Ok(id) => Attribution::User(id),
            Err(e) => Attribution::Corrupt(e),
        };
    }
    match value.strip_prefix(LEGACY_PREFIX) {
        Some(rest) => match decode_body(rest, legacy_check) {
            Ok(id) => Attribution::Legacy(id),
            Err(e) => Attribution::Corrupt(e),
        },
        None => Attribution::Foreign,
    }
}

/// Whether a value carries one of this bot's prefixes (current or earlier).
pub fn carries_prefix(value: &str) -> bool {
    value.starts_with(PREFIX) || value.starts_with(LEGACY_PREFIX)
}

fn decode_body(rest: &str, check: fn(&[u8]) -> usize) -> Result<u64, DecodeError> {
    let bytes = rest.as_bytes();
    if bytes.len() < 2 || bytes.len() > MAX_DIGITS + 1 {
        return Err(DecodeError::Malformed);
    }
    let (body, chk) = bytes.split_at(bytes.len() - 1);
    if body.len() > 1 && body[0] == b'0' {
        return Err(DecodeError::Malformed);
    }
    let mut n: u64 = 0;
    for &b in body {
        let d = digit(b).ok_or(DecodeError::Malformed)?;
        n = n
            .checked_mul(36)
            .and_then(|n| n.checked_add(d))
            .ok_or(DecodeError::Malformed)?;
    }
    if digit(chk[0]) != Some(check(body) as u64) {
        return Err(DecodeError::BadCheck);
    }
    Ok(n)
}

fn digit(b: u8) -> Option<u64> {
    match b {
        b'0'..=b'9' => Some((b - b'0') as u64),
        b'a'..=b'z' => Some((b - b'a' + 10) as u64),
        _ => None,
    }
}

/// One step of ISO 7064 MOD 37,36 (hybrid): the running state `p` is in 1..=36.
fn step(p: usize, d: usize) -> usize {
    let s = (p + d) % 36;
    let s = if s == 0 { 36 } else { s };
    (s * 2) % 37
}

/// ISO 7064 MOD 37,36 check digit. For a fixed state, each step is a bijection of the digit,
/// and for a fixed digit a bijection of the state, so a single changed digit changes the
/// state from there on and the check digit (a bijection of the final state) with it.
fn mod37_36(body: &[u8]) -> usize {
    let p = body
        .iter()
        .fold(36, |p, &b| step(p, digit(b).unwrap_or(0) as usize));
    (37 - p) % 36
}

/// The earlier format's position-weighted sum mod 36 (misses e.g. a 6 in position 6).
fn legacy_check(body: &[u8]) -> usize {
    body.iter()
        .enumerate()
        .map(|(i, &b)| (i + 1) * digit(b).unwrap_or(0) as usize)
        .sum::<usize>()
        % 36
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every character `external_info` may hold.
    const CHARSET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_";

    /// The earlier encoder, kept to produce values users still hold.
    fn legacy_encode(user_id: u64) -> String {
        let v = encode(user_id);
        let body = &v[PREFIX.len()..v.len() - 1];
        format!(
            "{LEGACY_PREFIX}{body}{}",
            ALPHABET[legacy_check(body.as_bytes())] as char
        )
    }

    proptest! {
        #[test]
        fn round_trips_every_user_id(id in any::<u64>()) {
            prop_assert_eq!(decode(&encode(id)), Ok(id));
            prop_assert_eq!(attribute(&encode(id)), Attribution::User(id));
        }

        #[test]
        fn uses_only_the_allowed_charset_within_twenty(id in any::<u64>()) {
            let v = encode(id);
            prop_assert!(v.len() <= 20 && v.len() <= MAX_LEN);
            prop_assert!(v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
            prop_assert!(v.starts_with(PREFIX));
        }

        /// Any one character changed to any other allowed character, anywhere (prefix and
        /// check character included), is an error: never another user, never the same one.
        #[test]
        fn a_changed_character_is_an_error(id in any::<u64>(), pos in 0usize..MAX_LEN, c in 0usize..CHARSET.len()) {
            let v = encode(id);
            let pos = pos % v.len();
            let mut bytes = v.into_bytes();
            prop_assume!(bytes[pos] != CHARSET[c]);
            bytes[pos] = CHARSET[c];
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(decode(&changed).is_err(), "{} decoded", changed);
            prop_assert!(!matches!(attribute(&changed), Attribution::User(_)), "{} attributed", changed);
        }

        #[test]
        fn legacy_values_decode_to_their_candidate(id in any::<u64>()) {
            prop_assert_eq!(attribute(&legacy_encode(id)), Attribution::Legacy(id));
            prop_assert_eq!(decode(&legacy_encode(id)), Err(DecodeError::NotOurs));
        }

        #[test]
        fn never_panics_on_arbitrary_input(s in "\\PC{0,30}") {
            let _ = decode(&s);
            let _ = attribute(&s);
        }
    }

    /// The whole argument behind the check character, exhaustively: each step is a bijection
    /// of the digit for every state and of the state for every digit, and the final map from
    /// state to check digit is a bijection too.
    #[test]
    fn every_step_of_the_check_is_a_bijection() {
        for p in 1..=36 {
            let mut outs: Vec<usize> = (0..36).map(|d| step(p, d)).collect();
            outs.sort_unstable();
            outs.dedup();
            assert_eq!(outs.len(), 36, "state {p}");
            assert!(outs.iter().all(|&o| (1..=36).contains(&o)));
        }
        for d in 0..36 {
            let mut outs: Vec<usize> = (1..=36).map(|p| step(p, d)).collect();
            outs.sort_unstable();
            outs.dedup();
            assert_eq!(outs.len(), 36, "digit {d}");
        }
        let mut checks: Vec<usize> = (1..=36).map(|p| (37 - p) % 36).collect();
        checks.sort_unstable();
        checks.dedup();
        assert_eq!(checks.len(), 36);
    }

    /// Exhaustive over every user id with up to two base-36 digits.
    #[test]
    fn every_single_change_of_short_values_is_an_error() {
        for id in 0..36 * 36 {
            let v = encode(id);
            for pos in 0..v.len() {
                for &c in CHARSET {
                    let mut bytes = v.clone().into_bytes();
                    if bytes[pos] == c {
                        continue;
                    }
                    bytes[pos] = c;
                    let changed = String::from_utf8(bytes).unwrap();
                    assert!(decode(&changed).is_err(), "{changed} from {v}");
                }
            }
        }
    }

    /// The earlier check missed changes this one catches (why the format changed).
    #[test]
    fn the_legacy_check_missed_a_change() {
        // Position 6 weighted 6: a digit moved by 6 leaves the mod-36 sum unchanged.
        let v = legacy_encode(36u64.pow(6)); // body "1000000"
        let changed = v.replacen("1000000", "1000060", 1);
        assert_eq!(
            attribute(&changed),
            Attribution::Legacy(36u64.pow(6) + 6 * 36)
        );
    }

    #[test]
    fn extremes_and_known_values() {
        assert_eq!(encode(0).len(), PREFIX.len() + 2);
        // The README's example.
        assert_eq!(encode(1001), "dlb2_rth");
        assert_eq!(decode(&encode(u64::MAX)), Ok(u64::MAX));
        assert_eq!(encode(u64::MAX).len(), MAX_LEN);
        assert_eq!(legacy_encode(1001), "dlb_rtd");
        assert_eq!(attribute("dlb_rtd"), Attribution::Legacy(1001));
    }

    #[test]
    fn foreign_values_are_rejected() {
        assert_eq!(decode(""), Err(DecodeError::NotOurs));
        assert_eq!(decode("111_222"), Err(DecodeError::NotOurs));
        assert_eq!(decode("dlb2_"), Err(DecodeError::Malformed));
        assert_eq!(decode("dlb2_0012"), Err(DecodeError::Malformed));
        assert_eq!(decode("dlb2_ABC1"), Err(DecodeError::Malformed));
        assert_eq!(decode("dlb2_zzzzzzzzzzzzzz"), Err(DecodeError::Malformed));
        assert_eq!(attribute(""), Attribution::Foreign);
        assert_eq!(attribute("111_222"), Attribution::Foreign);
        assert_eq!(attribute("dlbx_1"), Attribution::Foreign);
        assert_eq!(
            attribute("dlb_ABC"),
            Attribution::Corrupt(DecodeError::Malformed)
        );
        let mut v = encode(123_456_789);
        let last = v.pop().unwrap();
        v.push(if last == '0' { '1' } else { '0' });
        assert_eq!(decode(&v), Err(DecodeError::BadCheck));
        assert_eq!(attribute(&v), Attribution::Corrupt(DecodeError::BadCheck));
    }
}
