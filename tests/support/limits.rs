//! What the fake Bot API refuses in a message's content, as Telegram refuses it: HTML it
//! cannot parse, texts and captions over their lengths, empty texts, oversized button data.
//! The fake's sendMessage, editMessageText, sendPhoto and answerInlineQuery all go through
//! here, so a test about Telegram's limits fails when the bot oversteps them.
//!
//! The HTML parser follows Telegram's own (tdlib's `parse_html` in td/telegram/MessageEntity.cpp,
//! which the Bot API server runs; its error texts are quoted from a faithful port of it):
//! - tags: only `a b strong i em u ins s strike del span tg-spoiler tg-emoji code pre
//!   blockquote`; a `span` needs `class="tg-spoiler"`; tags must nest and close;
//! - `<` always opens a tag: `a < b` is `Unsupported start tag "" at byte offset 2`;
//! - `&` decodes only `&lt; &gt; &amp; &quot;` and numeric entities; any other `&` is kept as
//!   it is (tdlib's `decode_html_entity` returns 0 and the character is copied), so a bare
//!   `&` is *not* refused, even though the Bot API page asks for `&amp;`;
//! - the Bot API answers each failure as `Bad Request: can't parse entities: <tdlib's text>`:
//!   e.g. `Unsupported start tag "</b" at byte offset 84` (kozalosev/DickGrowerBot#92),
//!   `Unsupported start tag "secret_key" at byte offset 37`, `Can't find end of the entity
//!   starting at byte offset 138` (celorodovalho/phpdfbot#31), `Expected end tag at byte
//!   offset …` (rossnomann/telefeed#1).
//!
//! Lengths are counted as Telegram counts them: UTF-16 code units of the text after entity
//! parsing (tags gone, entities decoded), leading and trailing whitespace trimmed:
//! - text over 4096: `Bad Request: message is too long` (influxdata/telegraf#8088,
//!   orangecoding/fredy#35); empty: `Bad Request: message text is empty` (telepot#332);
//! - caption over 1024: `Bad Request: message caption is too long` (tactilenews/100eyes#1594:
//!   "Telegram has a 1,024 character limit for media captions, but a 4,096 for text
//!   messages");
//! - `callback_data` over 64 bytes: `Bad Request: BUTTON_DATA_INVALID` (Bot API
//!   InlineKeyboardButton: "callback_data … 1-64 bytes"; nickoala/telepot#293: 66 bytes
//!   refused, 60 accepted; LiveHelperChat/telegram#64).

use serde_json::Value;

/// Telegram's limit on a message's text, in UTF-16 code units after parsing.
pub const TEXT_LIMIT: usize = 4096;
/// Telegram's limit on a media caption, in UTF-16 code units after parsing.
pub const CAPTION_LIMIT: usize = 1024;
/// Telegram's limit on a button's `callback_data`, in bytes.
pub const CALLBACK_DATA_LIMIT: usize = 64;

/// The tags Telegram's HTML knows (core.telegram.org/bots/api#html-style).
const TAGS: &[&str] = &[
    "a",
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "tg-emoji",
    "code",
    "pre",
    "blockquote",
];

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c)
}

/// The character an HTML entity at `pos` (which is `&`) stands for, and where it ends; None
/// when Telegram would keep the `&` as it is.
fn decode_entity(b: &[u8], pos: usize) -> Option<(char, usize)> {
    let mut end = pos + 1;
    let code = if b.get(pos + 1) == Some(&b'#') {
        end += 1;
        let mut res: u32 = 0;
        if b.get(pos + 2) == Some(&b'x') {
            end += 1;
            while let Some(d) = b.get(end).and_then(|c| (*c as char).to_digit(16)) {
                res = res.saturating_mul(16).saturating_add(d);
                end += 1;
            }
        } else {
            while let Some(d) = b.get(end).and_then(|c| (*c as char).to_digit(10)) {
                res = res.saturating_mul(10).saturating_add(d);
                end += 1;
            }
        }
        if res == 0 || res >= 0x10ffff || end - pos >= 10 {
            return None;
        }
        char::from_u32(res)?
    } else {
        while b.get(end).is_some_and(u8::is_ascii_alphabetic) {
            end += 1;
        }
        match &b[pos + 1..end] {
            b"lt" => '<',
            b"gt" => '>',
            b"amp" => '&',
            b"quot" => '"',
            _ => return None,
        }
    };
    if b.get(end) == Some(&b';') {
        end += 1;
    }
    Some((code, end))
}

/// `html` as Telegram shows it (tags removed, entities decoded), or why Telegram cannot parse
/// it (tdlib's words, without the Bot API's `Bad Request: can't parse entities: ` prefix).
pub fn parse_html(html: &str) -> Result<String, String> {
    let b = html.as_bytes();
    let len = b.len();
    let mut out = String::with_capacity(len);
    // Open tags: (name, argument).
    let mut open: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while i < len {
        if b[i] == b'&' {
            if let Some((c, next)) = decode_entity(b, i) {
                out.push(c);
                i = next;
                continue;
            }
        }
        if b[i] != b'<' {
            let c = html[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        let begin = i;
        i += 1;
        if i < len && b[i] != b'/' {
            while i < len && !is_space(b[i]) && b[i] != b'>' {
                i += 1;
            }
            if i >= len {
                return Err(format!("Unclosed start tag at byte offset {begin}"));
            }
            let tag = html[begin + 1..i].to_ascii_lowercase();
            if !TAGS.contains(&tag.as_str()) {
                return Err(format!(
                    "Unsupported start tag \"{tag}\" at byte offset {begin}"
                ));
            }
            let mut argument = String::new();
            while i < len && b[i] != b'>' {
                while i < len && is_space(b[i]) {
                    i += 1;
                }
                if i >= len || b[i] == b'>' {
                    break;
                }
                let attr_begin = i;
                while i < len && !is_space(b[i]) && b[i] != b'=' && b[i] != b'>' {
                    i += 1;
                }
                let attr = html[attr_begin..i].to_ascii_lowercase();
                if attr.is_empty() {
                    return Err(format!(
                        "Empty attribute name in the tag \"{tag}\" at byte offset {begin}"
                    ));
                }
                while i < len && is_space(b[i]) {
                    i += 1;
                }
                // `<blockquote expandable>`: the one attribute without a value.
                if tag == "blockquote" && attr == "expandable" && b.get(i) != Some(&b'=') {
                    argument = attr;
                    continue;
                }
                if b.get(i) != Some(&b'=') {
                    return Err(format!(
                        "Expected equal sign in declaration of an attribute of the tag \"{tag}\" at byte offset {begin}"
                    ));
                }
                i += 1;
                while i < len && is_space(b[i]) {
                    i += 1;
                }
                if i >= len {
                    return Err(format!(
                        "Unclosed start tag \"{tag}\" at byte offset {begin}"
                    ));
                }
                let value = if b[i] != b'\'' && b[i] != b'"' {
                    let token_begin = i;
                    while i < len && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'-')
                    {
                        i += 1;
                    }
                    if i < len && !is_space(b[i]) && b[i] != b'>' {
                        return Err(format!(
                            "Unexpected end of name token at byte offset {token_begin}"
                        ));
                    }
                    html[token_begin..i].to_ascii_lowercase()
                } else {
                    let quote = b[i];
                    i += 1;
                    let mut value = String::new();
                    while i < len && b[i] != quote {
                        if b[i] == b'&' {
                            if let Some((c, next)) = decode_entity(b, i) {
                                value.push(c);
                                i = next;
                                continue;
                            }
                        }
                        let c = html[i..].chars().next().unwrap();
                        value.push(c);
                        i += c.len_utf8();
                    }
                    if i < len {
                        i += 1;
                    }
                    value
                };
                if i >= len {
                    return Err(format!("Unclosed start tag at byte offset {begin}"));
                }
                match (tag.as_str(), attr.as_str()) {
                    ("a", "href") | ("tg-emoji", "emoji-id") => argument = value,
                    ("code", "class") if value.starts_with("language-") => {
                        argument = value["language-".len()..].to_string()
                    }
                    ("span", "class") if value.starts_with("tg-") => {
                        argument = value["tg-".len()..].to_string()
                    }
                    _ => {}
                }
            }
            if tag == "span" && argument != "spoiler" {
                return Err(format!(
                    "Tag \"span\" must have class \"tg-spoiler\" at byte offset {begin}"
                ));
            }
            open.push((tag, argument));
            i += 1;
        } else {
            let Some((tag, argument)) = open.last().cloned() else {
                return Err(format!("Unexpected end tag at byte offset {begin}"));
            };
            while i < len && !is_space(b[i]) && b[i] != b'>' {
                i += 1;
            }
            let end_name = html
                .get(begin + 2..i)
                .unwrap_or_default()
                .to_ascii_lowercase();
            while i < len && is_space(b[i]) {
                i += 1;
            }
            if i >= len || b[i] != b'>' {
                return Err(format!("Unclosed end tag at byte offset {begin}"));
            }
            if !end_name.is_empty() && end_name != tag {
                return Err(format!(
                    "Unmatched end tag at byte offset {begin}, expected \"</{tag}>\", found \"</{end_name}>\""
                ));
            }
            if tag == "tg-emoji" && argument.parse::<i64>().map_or(true, |id| id == 0) {
                return Err("Invalid custom emoji identifier specified".to_string());
            }
            open.pop();
            i += 1;
        }
    }
    if let Some((tag, _)) = open.last() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{tag}\""
        ));
    }
    Ok(out)
}

/// How Telegram counts a text's length: UTF-16 code units.
pub fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// The text Telegram would show for `text` sent with `parse_mode`, or its refusal
/// (`Bad Request: can't parse entities: …`).
fn visible(text: &str, parse_mode: Option<&str>) -> Result<String, String> {
    if parse_mode.is_some_and(|m| m.eq_ignore_ascii_case("html")) {
        parse_html(text).map_err(|e| format!("Bad Request: can't parse entities: {e}"))
    } else {
        Ok(text.to_string())
    }
}

/// Telegram's refusal of a message text (sendMessage, editMessageText, an inline result's
/// message), if it refuses it.
pub fn check_text(text: Option<&str>, parse_mode: Option<&str>) -> Result<(), String> {
    let shown = visible(text.unwrap_or_default(), parse_mode)?;
    let shown = shown.trim();
    if shown.is_empty() {
        return Err("Bad Request: message text is empty".to_string());
    }
    if utf16_len(shown) > TEXT_LIMIT {
        return Err("Bad Request: message is too long".to_string());
    }
    Ok(())
}

/// Telegram's refusal of a media caption (none is fine), if it refuses it.
pub fn check_caption(caption: Option<&str>, parse_mode: Option<&str>) -> Result<(), String> {
    let shown = visible(caption.unwrap_or_default(), parse_mode)?;
    if utf16_len(shown.trim()) > CAPTION_LIMIT {
        return Err("Bad Request: message caption is too long".to_string());
    }
    Ok(())
}

/// Telegram's refusal of a `reply_markup` (a JSON object, or its text as a multipart field
/// carries it), if it refuses it: any inline button's `callback_data` over 64 bytes.
pub fn check_markup(markup: &Value) -> Result<(), String> {
    let parsed;
    let markup = match markup {
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
            &parsed
        }
        other => other,
    };
    let rows = markup["inline_keyboard"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let too_long = rows
        .iter()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .filter_map(|button| button["callback_data"].as_str().map(str::len))
        .any(|bytes| bytes > CALLBACK_DATA_LIMIT);
    if too_long {
        return Err("Bad Request: BUTTON_DATA_INVALID".to_string());
    }
    Ok(())
}

/// A method's parameters as Telegram checks them: `text` (when `has_text`) or `caption`, with
/// `parse_mode`, and `reply_markup`.
pub fn check_message(body: &Value, has_text: bool) -> Result<(), String> {
    let parse_mode = body["parse_mode"].as_str();
    if has_text {
        check_text(body["text"].as_str(), parse_mode)?;
    } else {
        check_caption(body["caption"].as_str(), parse_mode)?;
    }
    check_markup(&body["reply_markup"])
}
