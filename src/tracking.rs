//! The `external_info` codec: which Telegram user a converted link belongs to.
//!
//! `external_info` comes back on every order bought through the link, so it must survive the
//! round trip through Douyin unchanged: only `[0-9A-Za-z_]`, at most 20 characters (the
//! tightest limit among Douyin's endpoints). The format is `dlb_` + the user id in lowercase
//! base 36 + one check character. The prefix marks the value as ours, the check character
//! and the canonical form (no leading zeros, lowercase only) reject values that merely look
//! like ours, so orders from other channels notify nobody.

use thiserror::Error;

pub const PREFIX: &str = "dlb_";
/// `dlb_` (4) + base 36 of u64::MAX (13) + check (1).
pub const MAX_LEN: usize = 18;

const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("external_info does not carry this bot's prefix")]
    NotOurs,
    #[error("external_info is malformed")]
    Malformed,
    #[error("external_info fails its check character")]
    BadCheck,
}

/// Encodes a Telegram user id.
pub fn encode(user_id: u64) -> String {
    let mut digits = [0u8; 13];
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
    out.push(ALPHABET[check(body)] as char);
    out
}

/// Decodes a value produced by [`encode`]; anything else is rejected.
pub fn decode(value: &str) -> Result<u64, DecodeError> {
    let rest = value.strip_prefix(PREFIX).ok_or(DecodeError::NotOurs)?;
    let bytes = rest.as_bytes();
    if bytes.len() < 2 || bytes.len() > 14 {
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

/// Position-weighted sum mod 36: catches any single changed character and most swaps.
fn check(body: &[u8]) -> usize {
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

    proptest! {
        #[test]
        fn round_trips_every_user_id(id in any::<u64>()) {
            prop_assert_eq!(decode(&encode(id)), Ok(id));
        }

        #[test]
        fn uses_only_the_allowed_charset_within_twenty(id in any::<u64>()) {
            let v = encode(id);
            prop_assert!(v.len() <= 20 && v.len() <= MAX_LEN);
            prop_assert!(v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
            prop_assert!(v.starts_with(PREFIX));
        }

        #[test]
        fn a_changed_character_is_rejected(id in any::<u64>(), pos in 0usize..14, c in "[0-9a-z]") {
            let v = encode(id);
            let pos = PREFIX.len() + pos % (v.len() - PREFIX.len());
            let mut bytes = v.clone().into_bytes();
            let c = c.as_bytes()[0];
            prop_assume!(bytes[pos] != c);
            bytes[pos] = c;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(decode(&changed).is_err() || decode(&changed) != Ok(id));
        }

        #[test]
        fn never_panics_on_arbitrary_input(s in "\\PC{0,30}") {
            let _ = decode(&s);
        }
    }

    #[test]
    fn extremes_and_known_values() {
        assert_eq!(encode(0), "dlb_00");
        // The README's example.
        assert_eq!(encode(1001), "dlb_rtd");
        assert_eq!(decode(&encode(u64::MAX)), Ok(u64::MAX));
        assert_eq!(encode(u64::MAX).len(), MAX_LEN);
    }

    #[test]
    fn foreign_values_are_rejected() {
        assert_eq!(decode(""), Err(DecodeError::NotOurs));
        assert_eq!(decode("111_222"), Err(DecodeError::NotOurs));
        assert_eq!(decode("dlb_"), Err(DecodeError::Malformed));
        assert_eq!(decode("dlb_0012"), Err(DecodeError::Malformed));
        assert_eq!(decode("dlb_ABC1"), Err(DecodeError::Malformed));
        assert_eq!(decode("dlb_zzzzzzzzzzzzzz"), Err(DecodeError::Malformed));
        let mut v = encode(123_456_789);
        let last = v.pop().unwrap();
        v.push(if last == '0' { '1' } else { '0' });
        assert_eq!(decode(&v), Err(DecodeError::BadCheck));
    }
}
