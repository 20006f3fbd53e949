//! End to end, the detector on what people really paste: the real bot (`app::run`) against
//! the fake Bot API and the fake veapi. Shares that are not products (videos, live rooms,
//! profiles, music, comments, other platforms' passwords) cost no veapi call at all; product
//! shares in the new shapes reach veapi with the value kol_ProductShare needs.

mod support;

use support::*;

/// Non-product shares as people paste them (real templates from `fixtures/messages2.jsonl`
/// and their variant spellings from `fixtures/messages_variants.jsonl`).
const NOT_PRODUCTS: &[&str] = &[
    // Video, in look-alike, traditional and letter spellings.
    "7.43 pda:/ 让你在几秒钟之内记住我  https://v.douyin.com/L5pbfdP/ 復製此链接，打kai Dou音搜索，値接觀看視频！",
    // Video: the plain copy-this-link template, without 查看商品详情.
    "https://v.douyin.com/irXxc3GY/ 复制此链接，打开抖音搜索",
    "7.15 对了我买了18块钱的章鱼小丸子，结果章鱼搜掉了# 甜妹 # 09 https://v.douyin.com/irXxc3GY/ 复制此链接，打开抖音搜索，直接观看视频！ 01/14 [H@V.Ym](mailto:H@V.Ym) AGV:/",
    // Live room.
    "6i- Q@x.Sl 03/23 点击打开👉https://v.douyin.com/i8tBR7hX/ 或长按復製此條消息，打kai抖音，看ＴＡ直播",
    // Profile, with a link and as a 抖口令.
    "长按复制此条消息，打开抖音搜索，查看TA的更多作品。https://v.douyin.com/Br5gAmG/",
    "8h:/ 4【乐居邢台（广缘）的个人主页】长按复制此条消息，长按复制打开抖音搜索，查看TA的更多作品##wOgpp7PYjr8##[抖音口令]",
    // Music.
    "0F.:/ a【风就应该自由要什么归宿】长按复制此条消息，打开抖音搜索，聆听音乐##kwu3VCixHl8##[抖音口令]",
    "【风就应该自由要什么归宿】https://v.douyin.com/kwu3VCi/ 复制此链接，打开抖音搜索，聆听音乐",
    // Comment.
    "9:/Y.. 07/31 o@Q.Kj 复制打开抖音，查看【辉总不累】发布作品的评论：死磕，做到极致。➝➝o7wgJAyHg49ŠŠ",
    "9:/Y.. 07/31 o@Q.Kj 復製打開抖音，查看【辉总不累】發佈作品的評論：死磕，做到极致。※※o7wgJAyHg49ǚǚ",
    // Taobao, JD and Alipay passwords that borrow the product words.
    "4￥Xk9sd8JhDb￥ 长按复制此条消息，打开手机，查看商品详情",
    "€Ab8Cd9EfGh€ 复制这条消息，打开tao宝，查看商品详情",
    "查看商品详情@Xk9sd8JhDb@",
    "長按複製此消息，打開支付寶，吱口令#Xk9sd8JhDb#，查看商品详情Xk9sd8JhDb",
    // Numbers that are not product ids.
    "推商品 商品自选 调控工具 素材追投\n计划ID：1804998056156307\n商品ID：390001",
    "{\"source\":\"taobao\",\"num_iid\":\"649479273712\",\"title\":\"夏季T恤\"}",
];

on_both_backends! {
    #[tokio::test]
    async fn non_product_shares_cause_no_veapi_call(db) {
        let h = Harness::start(db, &[]).await;
        share_reply(&h.veapi, None, json_body("veapi/share_ok.json")).await;
        for text in NOT_PRODUCTS {
            h.tg.push_text(&ALICE, text);
        }
        // In private every message without a reference is answered with the hint: one hint per
        // message proves each was handled.
        let hint = |m: &serde_json::Value| {
            m["text"]
                .as_str()
                .is_some_and(|t| t.contains("没有在这条消息里找到抖音商品"))
        };
        let sent = h.tg.wait_sent(NOT_PRODUCTS.len()).await;
        let not_hints: Vec<_> = sent.iter().filter(|m| !hint(m)).collect();
        assert!(not_hints.is_empty(), "{not_hints:#?}");
        let calls = share_calls(&h.veapi).await;
        assert!(calls.is_empty(), "veapi was asked: {calls:#?}");
        h.bot.stop().await;
    }
}

on_both_backends! {
    #[tokio::test]
    async fn product_shares_in_new_shapes_reach_veapi_with_the_right_value(db) {
        let h = Harness::start(db, &[]).await;
        share_reply(&h.veapi, None, json_body("veapi/share_ok.json")).await;
        let cases: &[(&str, &str, bool)] = &[
            // A 抖口令 with new delimiters and noise inside 查看商品详情.
            (
                "8:/ 05/09 g@b.nd 【花花公子夹克男】复制此条消息打开抖音，查看:/ 商品详情。【^^yvMryGHbeg49※※】",
                "yvMryGHbeg49",
                false,
            ),
            // Traditional and letter spellings around ŠŠ…︽︽.
            (
                "8:/ T@y.TL 04/03 【皮尔卡丹冲锋衣】復製此條消息打開Dou音，查看商品詳情。【ŠŠoxJYUXMeg49︽︽】",
                "oxJYUXMeg49",
                false,
            ),
            // A colonel link as a JSON string.
            (
                "{\"share_url\":\"https:\\/\\/haohuo.jinritemai.com\\/ecommerce\\/trade\\/detail\\/index.html?id=3644272059510584408\\u0026ins_activity_param=A7b3DEe\"}",
                "https://haohuo.jinritemai.com/ecommerce/trade/detail/index.html?id=3644272059510584408&ins_activity_param=A7b3DEe",
                true,
            ),
            // A product URL percent-encoded inside a redirector's parameter.
            (
                "https://www.example.com/jump?target=https%3A%2F%2Fhaohuo.jinritemai.com%2Fviews%2Fproduct%2Fitem2%3Fid%3D3455938529937469044&from=share",
                "https://haohuo.jinritemai.com/views/product/item2?id=3455938529937469044",
                false,
            ),
            // A product share next to a video share, both in variant spellings.
            (
                "7.43 pda:/ 让你在几秒钟之内记住我  https://v.douyin.com/L5pbfdP/ 復製此鏈接，打kaiDou音搜索，値接觀看視频！\n9.28 reo:/ r@r.Rx 01/26 【抖音商城】https://v.douyin.com/i2wDMRRN/ 【卡宾熊】猫耳酥\n長按複製此條消息，打開Dou音搜索，查看商品詳情！",
                "https://v.douyin.com/i2wDMRRN/",
                false,
            ),
            // Two short links glued by a comma.
            (
                "https://v.douyin.com/iUqwFX7b/,https://v.douyin.com/Ay1Q2QU/",
                "https://v.douyin.com/Ay1Q2QU/",
                false,
            ),
        ];
        for (text, _, _) in cases {
            h.tg.push_text(&ALICE, text);
        }
        // One reply each; texts with words beside their reference also get the rewrite.
        h.tg.wait_for(cases.len(), |m| {
            !m["text"].as_str().unwrap_or_default().contains("<pre>")
        })
        .await;
        let calls = share_calls(&h.veapi).await;
        for (text, want, coupon) in cases {
            let call = calls
                .iter()
                .find(|c| c["productUrl"] == *want || c["productUrl"].contains(want))
                .unwrap_or_else(|| panic!("no call for {text:?} (wanted {want:?}): {calls:#?}"));
            assert_eq!(call.contains_key("use_coupon"), *coupon, "{call:?}");
        }
        // The glued pair is two products; nothing else was asked: the video beside the product
        // share cost no call.
        let urls: Vec<&str> = calls.iter().map(|c| c["productUrl"].as_str()).collect();
        assert_eq!(calls.len(), cases.len() + 1, "{urls:#?}");
        assert!(
            !urls.contains(&"https://v.douyin.com/L5pbfdP/"),
            "{urls:#?}"
        );
        h.bot.stop().await;
    }
}
