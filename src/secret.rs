//! A string that must never be printed: the vekey, the bot token, access tokens.

use std::fmt;

/// Holds a secret. `Debug` and `Display` print a fixed mask; the value is only reachable
/// through [`Secret::expose`], which makes every use easy to find.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let s = Secret::new("V123M56-supersecret");
        assert!(!format!("{s:?} {s} {s:#?}").contains("supersecret"));
        assert_eq!(s.expose(), "V123M56-supersecret");
    }
}
