//! Folds the spellings people (and Douyin's own obfuscation) use for share-template words to
//! one canonical form, so that the template rules are written once: look-alike and
//! traditional characters (`復製`, `緮墆`, `値接觀看視频`), letters for Chinese next to Chinese
//! (`Dou音`, `打kai`, `覆zhi`), full-width letters and digits, look-alike Latin letters
//! (`ƊƟưƴƖƞ`), zero-width characters and bracketed emoji codes (`[呲牙]`).
//!
//! Folding is for matching words only: URLs, ids and password cores are read from the
//! original text. Every folded character remembers the original bytes it came from, so a
//! match in the folded text maps back to a span of the message. Text with nothing to fold is
//! borrowed as it is: no allocation on the common path.

use std::borrow::Cow;
use std::ops::Range;

/// A message in canonical spelling, and the way back to the original offsets.
pub struct Folded<'a> {
    pub text: Cow<'a, str>,
    /// Per folded character: its byte offset in `text` and the original bytes it came from.
    /// Empty when `text` is borrowed.
    map: Vec<(usize, Range<usize>)>,
}

impl Folded<'_> {
    /// The original byte range of a range of the folded text.
    pub fn to_original(&self, r: Range<usize>) -> Range<usize> {
        if self.map.is_empty() {
            return r;
        }
        let first = self.map.partition_point(|(f, _)| *f < r.start);
        let last = self.map.partition_point(|(f, _)| *f < r.end);
        let start = self.map.get(first).map_or(usize::MAX, |(_, o)| o.start);
        let end = last
            .checked_sub(1)
            .and_then(|i| self.map.get(i))
            .map_or(start, |(_, o)| o.end);
        start.min(end)..end
    }
}

/// Folds `text`; borrows it when nothing needs folding.
pub fn fold(text: &str) -> Folded<'_> {
    if !needs_folding(text) {
        return Folded {
            text: Cow::Borrowed(text),
            map: Vec::new(),
        };
    }
    // Pass 1: characters one by one (and bracketed emoji codes).
    let mut units: Vec<(char, Range<usize>)> = Vec::with_capacity(text.len() / 2);
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let end = i + c.len_utf8();
        if c == '[' {
            if let Some(len) = emoji_code_len(&text[i..]) {
                while iter.peek().is_some_and(|(j, _)| *j < i + len) {
                    iter.next();
                }
                continue;
            }
        }
        match fold_char(c) {
            Some(Fold::Drop) => {}
            Some(Fold::To(f)) => units.push((f, i..end)),
            None => units.push((c, i..end)),
        }
    }
    // Pass 2: letter runs that spell Chinese next to Chinese.
    let mut out: Vec<(char, Range<usize>)> = Vec::with_capacity(units.len());
    let mut i = 0;
    while i < units.len() {
        if !units[i].0.is_ascii_alphabetic() {
            out.push(units[i].clone());
            i += 1;
            continue;
        }
        let mut j = i;
        while j < units.len() && units[j].0.is_ascii_alphabetic() {
            j += 1;
        }
        let near_han = i.checked_sub(1).is_some_and(|p| is_han(units[p].0))
            || units.get(j).is_some_and(|u| is_han(u.0))
            // "打kai Dou音": a run between a Chinese character and another run.
            || (units.get(j).is_some_and(|u| u.0 == ' ')
                && units.get(j + 1).is_some_and(|u| u.0.is_ascii_alphabetic())
                && i.checked_sub(1).is_some_and(|p| is_han(units[p].0)));
        let run: String = units[i..j]
            .iter()
            .map(|u| u.0.to_ascii_lowercase())
            .collect();
        match near_han.then(|| pinyin(&run)).flatten() {
            Some(han) => {
                let orig = units[i].1.start..units[j - 1].1.end;
                out.extend(han.chars().map(|h| (h, orig.clone())));
            }
            None => out.extend_from_slice(&units[i..j]),
        }
        i = j;
    }
    // Pass 3: spaces between Chinese characters ("打开 抖音") say nothing.
    let mut text_out = String::with_capacity(text.len());
    let mut map = Vec::with_capacity(out.len());
    for (k, (c, orig)) in out.iter().enumerate() {
        if matches!(c, ' ' | '\u{3000}')
            && k > 0
            && is_han(out[k - 1].0)
            && out.get(k + 1).is_some_and(|n| is_han(n.0))
        {
            continue;
        }
        map.push((text_out.len(), orig.clone()));
        text_out.push(*c);
    }
    Folded {
        text: Cow::Owned(text_out),
        map,
    }
}

enum Fold {
    Drop,
    To(char),
}

/// Whether anything in `text` folds: the check allocates nothing.
fn needs_folding(text: &str) -> bool {
    let mut prev_han = false;
    let mut run_start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        if c.is_ascii_alphabetic() {
            run_start.get_or_insert(i);
            continue;
        }
        let han = is_han(c);
        if let Some(s) = run_start.take() {
            // A letter run touching a Chinese character on either side.
            if (prev_han || han) && pinyin_ascii(&text[s..i]) {
                return true;
            }
        }
        if c.is_ascii() {
            prev_han = false;
            continue;
        }
        if fold_char(c).is_some() || (c == '[' && emoji_code_len(&text[i..]).is_some()) {
            return true;
        }
        prev_han = han;
    }
    run_start.is_some_and(|s| prev_han && pinyin_ascii(&text[s..]))
}

/// Whether a letter run splits into syllables, any case; allocates nothing.
fn pinyin_ascii(run: &str) -> bool {
    fn splits(rest: &[u8]) -> bool {
        rest.is_empty()
            || SYLLABLES.iter().any(|(s, _)| {
                rest.len() >= s.len()
                    && rest[..s.len()].eq_ignore_ascii_case(s.as_bytes())
                    && splits(&rest[s.len()..])
            })
    }
    !run.is_empty() && run.len() <= 16 && splits(run.as_bytes())
}

/// `[呲牙]`, `[玫瑰]`: an emoji code of 1 to 4 Chinese characters in ASCII brackets.
fn emoji_code_len(s: &str) -> Option<usize> {
    for (n, (i, c)) in s.char_indices().skip(1).enumerate() {
        if c == ']' {
            return (1..=4).contains(&n).then_some(i + 1);
        }
        if !is_han(c) || n == 4 {
            return None;
        }
    }
    None
}

pub fn is_han(c: char) -> bool {
    matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}' | '\u{f900}'..='\u{faff}')
}

/// Syllables written in letters for the words of share templates. A run must split into
/// these entirely ("kaiDou" → 开抖) to be folded.
const SYLLABLES: &[(&str, &str)] = &[
    ("douyin", "抖音"),
    ("dou", "抖"),
    ("yin", "音"),
    ("dy", "抖音"),
    ("kai", "开"),
    ("da", "打"),
    ("fu", "复"),
    ("zhi", "制"),
    ("ci", "此"),
    ("lian", "链"),
    ("jie", "接"),
    ("sou", "搜"),
    ("suo", "索"),
    ("kan", "看"),
    ("guan", "观"),
    ("shang", "商"),
    ("xiang", "详"),
    ("qing", "情"),
    ("chang", "长"),
    ("tiao", "条"),
    ("xiao", "消"),
    ("ting", "听"),
    ("yue", "乐"),
    ("ping", "评"),
    ("lun", "论"),
    ("tao", "淘"),
    ("bao", "宝"),
];

fn pinyin(run: &str) -> Option<String> {
    if run.is_empty() {
        return None;
    }
    let mut out = String::new();
    let mut rest = run;
    'outer: while !rest.is_empty() {
        // Longest syllable first.
        let mut best: Option<(&str, &str)> = None;
        for &(s, h) in SYLLABLES {
            if rest.starts_with(s) && best.is_none_or(|(b, _)| s.len() > b.len()) {
                best = Some((s, h));
            }
        }
        match best {
            Some((s, h)) => {
                out.push_str(h);
                rest = &rest[s.len()..];
                continue 'outer;
            }
            None => return None,
        }
    }
    Some(out)
}

fn fold_char(c: char) -> Option<Fold> {
    Some(match c {
        // Zero-width, bidi controls, soft hyphen, variation selectors.
        '\u{200b}'..='\u{200f}'
        | '\u{2060}'..='\u{2064}'
        | '\u{feff}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}'
        | '\u{00ad}'
        | '\u{fe00}'..='\u{fe0f}' => Fold::Drop,
        // Full-width digits and letters.
        '\u{ff10}'..='\u{ff19}' | '\u{ff21}'..='\u{ff3a}' | '\u{ff41}'..='\u{ff5a}' => {
            Fold::To(char::from_u32(c as u32 - 0xfee0)?)
        }
        _ => Fold::To(look_alike(c)?),
    })
}

/// Look-alike Latin letters and traditional or look-alike characters of template words.
fn look_alike(c: char) -> Option<char> {
    Some(match c {
        // Latin look-alikes seen in 抖口令 ("ƊƟưƴƖƞ") and their kin.
        'Ɗ' | 'Ď' | 'Đ' | 'ď' | 'đ' | 'ɗ' => 'd',
        'Ɵ' | 'Ö' | 'Ó' | 'Ò' | 'Ô' | 'ö' | 'ó' | 'ò' | 'ô' | 'ǒ' | 'ō' | 'ơ' | 'Ơ' | 'σ' | 'ο'
        | 'о' => 'o',
        'ư' | 'Ư' | 'ü' | 'ú' | 'ù' | 'û' | 'ǔ' | 'ū' | 'Ü' | 'Ú' => 'u',
        'ƴ' | 'Ƴ' | 'ý' | 'ÿ' | 'Ý' | 'у' => 'y',
        'Ɩ' | 'í' | 'ì' | 'î' | 'ï' | 'ǐ' | 'ī' | 'ı' | 'і' | 'ї' | 'ι' => 'i',
        'ƞ' | 'ñ' | 'ń' | 'ň' | 'Ñ' | 'η' => 'n',
        'á' | 'à' | 'â' | 'ä' | 'ǎ' | 'ā' | 'а' | 'α' => 'a',
        'é' | 'è' | 'ê' | 'ë' | 'ě' | 'ē' | 'е' => 'e',
        'к' | 'κ' => 'k',
        // Traditional and look-alike characters of the template words.
        '復' | '複' | '覆' | '緮' => '复',
        '製' | '墆' => '制',
        '鏈' | '鍊' => '链',
        '開' | '幵' | '閞' | '鐦' => '开',
        '咑' => '打',
        '瞍' | '蒐' => '搜',
        '視' | '覗' | '眂' => '视',
        '頻' => '频',
        '觀' | '観' | '覌' => '观',
        '値' | '矗' => '直',
        '條' | '絛' => '条',
        '長' | '镸' => '长',
        '詳' => '详',
        '聽' | '聼' => '听',
        '樂' | '楽' => '乐',
        '評' => '评',
        '論' => '论',
        '發' | '発' => '发',
        '佈' => '布',
        '間' => '间',
        '頁' => '页',
        '個' => '个',
        '購' => '购',
        '買' => '买',
        '櫥' => '橱',
        '鋪' | '舖' => '铺',
        '號' => '号',
        '寶' => '宝',
        '東' => '东',
        '單' => '单',
        '這' => '这',
        '訊' => '讯',
        '進' => '进',
        '專' => '专',
        '題' => '题',
        '緻' => '致',
        '陰' => '音',
        '枓' | '鈄' => '抖',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> String {
        fold(s).text.into_owned()
    }

    #[test]
    fn template_spellings_fold_to_one_form() {
        assert_eq!(
            f("復製此链接，打kai Dou音搜索，値接觀看視频"),
            "复制此链接，打开抖音搜索，直接观看视频"
        );
        assert_eq!(f("緮墆此条消息,da幵ƊƟưƴƖƞ瞍?"), "复制此条消息,打开抖音搜?");
        assert_eq!(
            f("覆[呲牙]zhi此条消息,咑[玫瑰]搜[烟花]"),
            "复制此条消息,打搜"
        );
        assert_eq!(f("看ＴＡ直播"), "看TA直播");
        assert_eq!(f("查看\u{200b}商品详情"), "查看商品详情");
    }

    #[test]
    fn plain_text_is_borrowed_and_letters_away_from_chinese_stay() {
        assert!(matches!(
            fold("https://v.douyin.com/abc/ 复制此链接").text,
            Cow::Borrowed(_)
        ));
        assert!(matches!(
            fold("Golden Goose商品 KCH 读书卡").text,
            Cow::Borrowed(_)
        ));
        assert_eq!(f("kai the door 打开"), "kai the door 打开");
    }

    #[test]
    fn folded_ranges_map_back_to_the_original() {
        let text = "打kai Dou音";
        let folded = fold(text);
        let at = folded.text.find("抖音").unwrap();
        let r = folded.to_original(at..at + "抖音".len());
        assert_eq!(&text[r], "Dou音");
    }
}
