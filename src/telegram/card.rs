//! The product card: what a converted reference is shown with.
//!
//! With the product's details (title, price, price after coupon, shop, the user's estimated
//! rebate) above the 抖口令, in the user's language. In a private chat a card whose cover is an
//! `https://` image is a photo with the card as its caption (sendPhoto by URL); if Telegram
//! refuses the photo (it fetches the URL itself and answers e.g. `Bad Request: wrong file
//! identifier/HTTP URL specified`, `Bad Request: failed to get HTTP URL content`, `Bad
//! Request: wrong type of the web page content`, `Bad Request: IMAGE_PROCESS_FAILED`), the
//! same card goes as text: nothing is lost. Groups get text only, two lines a product. A
//! message without any details gets today's reply ([`texts::reply`]), the password alone.
//!
//! Every value from upstream is escaped and bounded: a title of 4000 characters or full of
//! HTML is cut to [`TITLE_CHARS`] and shown as text; a price of 0 is no price line; a
//! cover that is not `https://` is no photo.

use super::{refusal, split_message, texts, Telegram, MAX_MESSAGE_UTF16};
use crate::convert::{ConvertError, Converted};
use crate::lang::Lang;
use crate::veapi::{ProductDetails, ShareLink};
use teloxide::types::MessageId;
use teloxide::RequestError;

/// A title is cut to this many characters (with …) on a card.
pub const TITLE_CHARS: usize = 80;
/// In a group's compact line.
pub const GROUP_TITLE_CHARS: usize = 30;
/// A shop name is cut to this many characters.
pub const SHOP_CHARS: usize = 40;
/// Telegram's limit on a caption, in UTF-16 code units after entity parsing.
pub const MAX_CAPTION_UTF16: usize = 1024;

/// One message of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// HTML text (split at line ends if it is too long for one message).
    Text(String),
    /// A card with its cover: `caption` under the photo, then `rest` as text when the card
    /// did not fit a caption; `fallback`, the whole card, if the photo is refused.
    Photo {
        url: String,
        caption: String,
        rest: Option<String>,
        fallback: String,
    },
}

/// The user's estimated rebate on one sale: the commission × `percent` / 100, in whole fen
/// rounded down. None when there is no rebate to show.
pub fn rebate_fen(commission_fen: Option<i64>, percent: u8) -> Option<i64> {
    let c = commission_fen.filter(|c| *c > 0)?;
    let r = (i128::from(c) * i128::from(percent.min(100)) / 100) as i64;
    (r > 0).then_some(r)
}

/// A cover Telegram may fetch: an `https://` URL with a host.
pub fn photo_url(cover: Option<&str>) -> Option<String> {
    let u = url::Url::parse(cover?.trim()).ok()?;
    (u.scheme() == "https" && u.host_str().is_some_and(|h| !h.is_empty())).then(|| u.to_string())
}

/// The number of UTF-16 code units Telegram counts for `html` once its tags and entities are
/// parsed (the bot writes only `<b>`, `<code>` and the three escapes).
pub fn visible_utf16(html: &str) -> usize {
    let mut n = 0;
    let mut in_tag = false;
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        if in_tag {
            in_tag = c != '>';
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if c == '<' {
            in_tag = true;
            rest = &rest[1..];
            continue;
        }
        if c == '&' {
            if let Some(entity) = ["&lt;", "&gt;", "&amp;", "&quot;"]
                .into_iter()
                .find(|e| rest.starts_with(e))
            {
                n += 1;
                rest = &rest[entity.len()..];
                continue;
            }
        }
        n += c.len_utf16();
        rest = &rest[c.len_utf8()..];
    }
    n
}

/// The lines above the password: title, price, price after coupon, shop, rebate.
fn detail_lines(d: &ProductDetails, lang: Lang, rebate_percent: u8) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(title) = d.title.as_deref().filter(|t| !t.trim().is_empty()) {
        lines.push(format!(
            "🛍 <b>{}</b>",
            texts::escape(&texts::bounded(title, TITLE_CHARS))
        ));
    }
    let price = d.price_fen.filter(|p| *p > 0);
    if let Some(p) = price {
        lines.push(format!(
            "{}{}",
            lang.pick("💰 价格：", "💰 Price: "),
            texts::yuan(p)
        ));
    }
    if let Some(c) = coupon_price(d) {
        lines.push(format!(
            "{}{}",
            lang.pick("🎟 券后价：", "🎟 With coupon: "),
            texts::yuan(c)
        ));
    }
    if let Some(shop) = d.shop_name.as_deref().filter(|s| !s.trim().is_empty()) {
        lines.push(format!(
            "{}{}",
            lang.pick("🏪 店铺：", "🏪 Shop: "),
            texts::escape(&texts::bounded(shop, SHOP_CHARS))
        ));
    }
    if let Some(r) = rebate(d, rebate_percent) {
        lines.push(format!(
            "{}{}",
            lang.pick("🎁 预估返利：", "🎁 Your estimated rebate: "),
            texts::yuan(r)
        ));
    }
    lines
}

/// The price after coupon, when there is a coupon: above 0 and below the price.
fn coupon_price(d: &ProductDetails) -> Option<i64> {
    let c = d.coupon_price_fen.filter(|c| *c > 0)?;
    match d.price_fen.filter(|p| *p > 0) {
        Some(p) if c >= p => None,
        _ => Some(c),
    }
}

fn rebate(d: &ProductDetails, percent: u8) -> Option<i64> {
    if percent == 0 {
        return None;
    }
    rebate_fen(d.commission_fen, percent)
}

/// The password part, in today's words: tap to copy, the coupon password if any.
fn codes(link: &ShareLink, lang: Lang) -> String {
    let mut out = format!(
        "{}\n<code>{}</code>",
        lang.pick(
            "✅ 已转换，点击口令即可复制：",
            "✅ Converted. Tap the password to copy it:"
        ),
        texts::escape(&link.dy_password)
    );
    if let Some(c) = &link.coupon {
        out.push_str(&format!(
            "\n{}\n<code>{}</code>",
            lang.pick("🎟 领券口令：", "🎟 Coupon password:"),
            texts::escape(&c.share_command)
        ));
    }
    out.push_str(lang.pick(
        "\n\n复制后打开抖音即可查看商品。",
        "\n\nCopy it, then open Douyin to see the product.",
    ));
    out
}

fn heading(i: usize, many: bool, lang: Lang) -> Option<String> {
    many.then(|| format!("<b>{} {}</b>", lang.pick("商品", "Product"), i + 1))
}

/// A private chat's card for one product with details.
fn private_card(
    i: usize,
    many: bool,
    link: &ShareLink,
    d: &ProductDetails,
    lang: Lang,
    rebate_percent: u8,
) -> Piece {
    let mut head: Vec<String> = heading(i, many, lang).into_iter().collect();
    head.extend(detail_lines(d, lang, rebate_percent));
    let head = head.join("\n");
    let codes = codes(link, lang);
    let whole = if head.is_empty() {
        codes.clone()
    } else {
        format!("{head}\n\n{codes}")
    };
    let Some(url) = photo_url(d.cover.as_deref()) else {
        return Piece::Text(whole);
    };
    if visible_utf16(&whole) <= MAX_CAPTION_UTF16 {
        Piece::Photo {
            url,
            caption: whole.clone(),
            rest: None,
            fallback: whole,
        }
    } else if !head.is_empty() && visible_utf16(&head) <= MAX_CAPTION_UTF16 {
        // An unusually long password: the product under the photo, the password after it.
        Piece::Photo {
            url,
            caption: head,
            rest: Some(codes),
            fallback: whole,
        }
    } else {
        Piece::Text(whole)
    }
}

/// A private chat's text block for a result without details (a password, or a refusal).
fn private_plain(
    i: usize,
    many: bool,
    result: &Result<Converted, ConvertError>,
    lang: Lang,
) -> String {
    let mut lines: Vec<String> = heading(i, many, lang).into_iter().collect();
    match result {
        Ok(c) => lines.push(codes(&c.link, lang)),
        Err(e) => lines.push(format!("❌ {}", texts::escape(&texts::failure(lang, e)))),
    }
    lines.join("\n")
}

/// A group's compact block: one line on the product, one with the password (and one with
/// the coupon password when there is one). Inline results post it too.
pub fn compact(
    link: &ShareLink,
    d: Option<&ProductDetails>,
    lang: Lang,
    rebate_percent: u8,
) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(d) = d {
        if let Some(t) = d.title.as_deref().filter(|t| !t.trim().is_empty()) {
            parts.push(texts::escape(&texts::bounded(t, GROUP_TITLE_CHARS)));
        }
        if let Some(p) = d.price_fen.filter(|p| *p > 0) {
            parts.push(texts::yuan(p));
        }
        if let Some(c) = coupon_price(d) {
            parts.push(format!(
                "{}{}",
                lang.pick("券后 ", "with coupon "),
                texts::yuan(c)
            ));
        }
        if let Some(r) = rebate(d, rebate_percent) {
            parts.push(format!("{}{}", lang.pick("返 ", "rebate "), texts::yuan(r)));
        }
    }
    let mut out = String::new();
    if !parts.is_empty() {
        out.push_str(&format!("🛍 {}\n", parts.join(" · ")));
    }
    out.push_str(&format!(
        "<code>{}</code>",
        texts::escape(&link.dy_password)
    ));
    if let Some(c) = &link.coupon {
        out.push_str(&format!(
            "\n🎟 <code>{}</code>",
            texts::escape(&c.share_command)
        ));
    }
    out
}

/// At most this many cards of one message are photos; past it, all are text.
pub const MAX_PHOTOS: usize = 3;

/// The messages that answer one message's conversions. Groups never see refusals.
pub fn render(
    results: &[Result<Converted, ConvertError>],
    private: bool,
    lang: Lang,
    rebate_percent: u8,
) -> Vec<Piece> {
    let shown: Vec<&Result<Converted, ConvertError>> =
        results.iter().filter(|r| private || r.is_ok()).collect();
    if shown.is_empty() {
        return Vec::new();
    }
    let any_details = shown
        .iter()
        .any(|r| r.as_ref().is_ok_and(|c| c.details.is_some()));
    if !any_details {
        // The password alone: today's reply, word for word.
        let links: Vec<Result<ShareLink, ConvertError>> = shown
            .iter()
            .map(|r| r.as_ref().map(|c| c.link.clone()).map_err(Clone::clone))
            .collect();
        return texts::reply(lang, &links, private)
            .map(Piece::Text)
            .into_iter()
            .collect();
    }
    if !private {
        let blocks: Vec<String> = shown
            .iter()
            .filter_map(|r| r.as_ref().ok())
            // Never the rebate: the password is the poster's, and the others reading the
            // group would take it for theirs.
            .map(|c| compact(&c.link, c.details.as_ref(), lang, 0))
            .collect();
        return vec![Piece::Text(blocks.join("\n"))];
    }
    let many = shown.len() > 1;
    let cards: Vec<Piece> = shown
        .iter()
        .enumerate()
        .map(|(i, r)| match r {
            Ok(Converted {
                link,
                details: Some(d),
                ..
            }) => private_card(i, many, link, d, lang, rebate_percent),
            other => Piece::Text(private_plain(i, many, other, lang)),
        })
        .collect();
    let photos = cards
        .iter()
        .filter(|p| matches!(p, Piece::Photo { .. }))
        .count();
    let mut pieces: Vec<Piece> = Vec::new();
    for piece in cards {
        // Past a few photos, a message with many products would arrive as a wall of
        // pictures, one message a second: then every card is text, in as few messages as fit.
        let piece = match piece {
            Piece::Photo { fallback, .. } if photos > MAX_PHOTOS => Piece::Text(fallback),
            piece => piece,
        };
        // Text after text goes in one message; every photo is its own.
        match (pieces.last_mut(), piece) {
            (Some(Piece::Text(prev)), Piece::Text(next)) => {
                prev.push_str("\n\n");
                prev.push_str(&next);
            }
            (_, piece) => pieces.push(piece),
        }
    }
    pieces
}

/// Adds a line (the rate-limit note) at the end of a reply: to its last text, or as a text
/// of its own after a photo.
pub fn append_note(pieces: &mut Vec<Piece>, note: String) {
    match pieces.last_mut() {
        Some(Piece::Text(t)) => {
            t.push_str("\n\n");
            t.push_str(&note);
        }
        _ => pieces.push(Piece::Text(note)),
    }
}

/// Whether a refused photo means the chat itself will take nothing (so a text would fail
/// too), as opposed to a refusal of the photo.
fn chat_refuses_everything(e: &RequestError) -> bool {
    use refusal::Refusal::*;
    matches!(
        refusal::classify(e),
        RetryAfter(_)
            | Migrated(_)
            | NotStarted(_)
            | Blocked(_)
            | UnknownChat(_)
            | Unreachable(_)
            | TokenRefused(_)
    )
}

async fn send_text(
    tg: &Telegram,
    chat_id: i64,
    html: &str,
    reply_to: Option<MessageId>,
) -> Result<(), RequestError> {
    for part in split_message(html, MAX_MESSAGE_UTF16) {
        tg.reply(chat_id, &part, reply_to).await?;
    }
    Ok(())
}

/// Sends a reply's pieces in order, each replying to `reply_to`.
pub async fn send(
    tg: &Telegram,
    chat_id: i64,
    reply_to: Option<MessageId>,
    pieces: &[Piece],
) -> Result<(), RequestError> {
    for piece in pieces {
        match piece {
            Piece::Text(t) => send_text(tg, chat_id, t, reply_to).await?,
            Piece::Photo {
                url,
                caption,
                rest,
                fallback,
            } => match tg.send_photo(chat_id, url, caption, reply_to).await {
                Ok(_) => {
                    if let Some(rest) = rest {
                        send_text(tg, chat_id, rest, reply_to).await?;
                    }
                }
                Err(e) if chat_refuses_everything(&e) => return Err(e),
                Err(e) => {
                    tracing::warn!(chat_id, error = %e, "the card's photo was refused; sending it as text");
                    send_text(tg, chat_id, fallback, reply_to).await?;
                }
            },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::veapi::Coupon;

    fn link(p: &str, coupon: Option<&str>) -> ShareLink {
        ShareLink {
            dy_password: p.into(),
            share_link: None,
            dy_deeplink: None,
            dy_zlink: None,
            coupon: coupon.map(|c| Coupon {
                share_command: c.into(),
                share_link: None,
            }),
        }
    }

    fn details() -> ProductDetails {
        ProductDetails {
            title: Some("卡宾熊猫耳酥 130g*10袋".into()),
            price_fen: Some(5990),
            coupon_price_fen: Some(4990),
            cover: Some("https://p3-aio.ecombdimg.com/obj/x.jpg".into()),
            shop_name: Some("卡宾熊旗舰店".into()),
            commission_fen: Some(199),
            ..Default::default()
        }
    }

    fn ok(d: Option<ProductDetails>) -> Result<Converted, ConvertError> {
        Ok(Converted {
            link: link("8口令8", Some("券口令")),
            details: d,
            cached: false,
        })
    }

    fn text_of(p: &Piece) -> &str {
        match p {
            Piece::Text(t) => t,
            Piece::Photo { caption, .. } => caption,
        }
    }

    #[test]
    fn past_three_photos_every_card_is_text_in_one_message() {
        let numbered = |n: usize| -> Vec<Result<Converted, ConvertError>> {
            (0..n)
                .map(|i| {
                    let mut d = details();
                    d.title = Some(format!("商品名{i}"));
                    ok(Some(d))
                })
                .collect()
        };
        let three = render(&numbered(3), true, Lang::Zh, 0);
        assert_eq!(three.len(), 3);
        assert!(three.iter().all(|p| matches!(p, Piece::Photo { .. })));
        let four = render(&numbered(4), true, Lang::Zh, 0);
        assert_eq!(four.len(), 1, "{four:?}");
        let text = text_of(&four[0]);
        assert!(matches!(four[0], Piece::Text(_)));
        for i in 0..4 {
            assert!(text.contains(&format!("商品名{i}")), "{text}");
        }
        assert_eq!(text.matches("<code>8口令8</code>").count(), 4, "{text}");
    }

    #[test]
    fn a_private_card_is_a_photo_with_everything_in_its_caption() {
        let pieces = render(&[ok(Some(details()))], true, Lang::Zh, 15);
        let [Piece::Photo {
            url,
            caption,
            rest,
            fallback,
        }] = pieces.as_slice()
        else {
            panic!("{pieces:?}")
        };
        assert_eq!(url, "https://p3-aio.ecombdimg.com/obj/x.jpg");
        assert_eq!(rest, &None);
        assert_eq!(caption, fallback);
        for want in [
            "🛍 <b>卡宾熊猫耳酥 130g*10袋</b>",
            "💰 价格：¥59.90",
            "🎟 券后价：¥49.90",
            "🏪 店铺：卡宾熊旗舰店",
            // 199 fen × 15% = 29.85: rounded down.
            "🎁 预估返利：¥0.29",
            "<code>8口令8</code>",
            "🎟 领券口令：\n<code>券口令</code>",
        ] {
            assert!(caption.contains(want), "{want} in {caption}");
        }
    }

    #[test]
    fn no_rebate_line_without_a_percent_or_a_commission() {
        let t = text_of(&render(&[ok(Some(details()))], true, Lang::Zh, 0)[0]).to_string();
        assert!(!t.contains("返利"), "{t}");
        let mut d = details();
        d.commission_fen = None;
        let t = text_of(&render(&[ok(Some(d))], true, Lang::Zh, 50)[0]).to_string();
        assert!(!t.contains("返利"), "{t}");
        assert_eq!(rebate_fen(Some(199), 15), Some(29));
        assert_eq!(rebate_fen(Some(5), 15), None, "0 fen is no rebate");
        assert_eq!(rebate_fen(Some(100), 100), Some(100));
    }

    #[test]
    fn bad_input_gets_a_bounded_card() {
        let mut d = details();
        d.title = Some(format!("<script>{}</script>", "长".repeat(4000)));
        d.price_fen = Some(0);
        d.cover = Some("http://p3-aio.ecombdimg.com/x.jpg".into());
        let pieces = render(&[ok(Some(d))], true, Lang::Zh, 0);
        let [Piece::Text(t)] = pieces.as_slice() else {
            panic!("not https: no photo {pieces:?}")
        };
        assert!(t.contains("&lt;script&gt;"), "{t}");
        assert!(!t.contains("<script>"));
        assert!(!t.contains("价格"), "price 0: no price line");
        let title_line = t.lines().find(|l| l.starts_with("🛍")).unwrap();
        assert!(
            title_line.chars().count() < TITLE_CHARS + 20,
            "{title_line}"
        );
        assert!(title_line.contains('…'));
        // No title: no title line, the rest stays.
        let mut d = details();
        d.title = None;
        let t = text_of(&render(&[ok(Some(d))], true, Lang::Zh, 0)[0]).to_string();
        assert!(!t.contains("🛍") && t.contains("价格"), "{t}");
        for bad in ["javascript:alert(1)", "https://", "ftp://x/y.jpg", "  "] {
            assert_eq!(photo_url(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn a_caption_past_1024_puts_the_password_after_the_photo() {
        let long = Converted {
            link: link(&"口".repeat(1100), None),
            details: Some(details()),
            cached: false,
        };
        let pieces = render(&[Ok(long)], true, Lang::Zh, 0);
        let [Piece::Photo {
            caption,
            rest: Some(rest),
            fallback,
            ..
        }] = pieces.as_slice()
        else {
            panic!("{pieces:?}")
        };
        assert!(visible_utf16(caption) <= MAX_CAPTION_UTF16);
        assert!(rest.contains(&"口".repeat(1100)));
        assert!(fallback.contains(caption.as_str()) && fallback.contains(rest.as_str()));
        // a, <, b, a space and an emoji Telegram counts twice.
        assert_eq!(visible_utf16("<b>a&lt;b</b> 😀"), 6);
    }

    #[test]
    fn without_details_the_reply_is_todays() {
        let results = [ok(None)];
        let links = [Ok(link("8口令8", Some("券口令")))];
        assert_eq!(
            render(&results, true, Lang::Zh, 15),
            vec![Piece::Text(texts::reply(Lang::Zh, &links, true).unwrap())]
        );
        assert_eq!(
            render(&results, false, Lang::Zh, 15),
            vec![Piece::Text(texts::reply(Lang::Zh, &links, false).unwrap())]
        );
    }

    #[test]
    fn groups_get_two_compact_lines_a_product_and_no_refusals() {
        let refused: Result<Converted, ConvertError> = Err(ConvertError::NeedsProductLink);
        let pieces = render(
            &[ok(Some(details())), refused, ok(None)],
            false,
            Lang::Zh,
            15,
        );
        let [Piece::Text(t)] = pieces.as_slice() else {
            panic!("{pieces:?}")
        };
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines,
            [
                // Never the poster's rebate in a group.
                "🛍 卡宾熊猫耳酥 130g*10袋 · ¥59.90 · 券后 ¥49.90",
                "<code>8口令8</code>",
                "🎟 <code>券口令</code>",
                "<code>8口令8</code>",
                "🎟 <code>券口令</code>",
            ]
        );
    }

    #[test]
    fn several_products_in_private_one_card_each_in_order() {
        let mut no_cover = details();
        no_cover.cover = None;
        let pieces = render(
            &[
                ok(Some(details())),
                Err(ConvertError::NeedsProductLink),
                ok(Some(no_cover)),
                ok(Some(details())),
            ],
            true,
            Lang::En,
            0,
        );
        assert_eq!(pieces.len(), 3, "{pieces:?}");
        assert!(
            matches!(&pieces[0], Piece::Photo { caption, .. } if caption.starts_with("<b>Product 1</b>"))
        );
        let Piece::Text(middle) = &pieces[1] else {
            panic!()
        };
        assert!(middle.starts_with("<b>Product 2</b>\n❌ "), "{middle}");
        assert!(middle.contains("<b>Product 3</b>\n🛍"), "{middle}");
        assert!(middle.contains("💰 Price: ¥59.90"), "{middle}");
        assert!(
            matches!(&pieces[2], Piece::Photo { caption, .. } if caption.starts_with("<b>Product 4</b>"))
        );
    }

    #[test]
    fn the_note_follows_the_last_text_or_stands_alone_after_a_photo() {
        let mut p = vec![Piece::Text("a".into())];
        append_note(&mut p, "n".into());
        assert_eq!(p, vec![Piece::Text("a\n\nn".into())]);
        let mut p = render(&[ok(Some(details()))], true, Lang::Zh, 0);
        append_note(&mut p, "n".into());
        assert_eq!(p.last(), Some(&Piece::Text("n".into())));
    }
}
