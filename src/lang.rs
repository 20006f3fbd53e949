//! The language a person is answered in: English for those whose Telegram app is set to
//! English (`language_code` starting with `en`), Chinese for everyone else, unless they chose
//! with `/lang`. Every text the bot writes for a person takes a [`Lang`]; texts are rendered
//! when they are sent, so a choice made today applies to news that is still waiting.

use std::fmt;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    /// From Telegram's `language_code` (an IETF tag such as `en`, `en-GB`, `zh-hans`).
    pub fn from_code(code: Option<&str>) -> Lang {
        match code {
            Some(c) if c.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("en")) => Lang::En,
            _ => Lang::Zh,
        }
    }

    /// What the store keeps and `/lang` takes: `zh` or `en`.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "zh" | "cn" | "中文" => Some(Lang::Zh),
            "en" | "english" => Some(Lang::En),
            _ => None,
        }
    }

    /// Picks the text for this language.
    pub fn pick<T>(self, zh: T, en: T) -> T {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_for_english_apps_chinese_otherwise() {
        for code in ["en", "en-GB", "EN-us"] {
            assert_eq!(Lang::from_code(Some(code)), Lang::En, "{code}");
        }
        for code in [Some("zh-hans"), Some("ru"), Some("e"), Some(""), None] {
            assert_eq!(Lang::from_code(code), Lang::Zh, "{code:?}");
        }
        assert_eq!(Lang::parse(" EN "), Some(Lang::En));
        assert_eq!(Lang::parse("zh"), Some(Lang::Zh));
        assert_eq!(Lang::parse("fr"), None);
        assert_eq!(Lang::En.pick("中", "en"), "en");
    }
}
