//! `/balance` for users and `/payout` for operators: what the rebate ledger says, in words.

use super::{escape, yuan};
use crate::lang::Lang;
use crate::store::{Balance, LedgerEntry, LedgerKind, PayoutRefused};

/// `/balance`: available, pending, lifetime, and the last lines of the ledger.
pub fn balance(lang: Lang, b: &Balance, lines: &[LedgerEntry], percent: u8) -> String {
    // Accruals of 0 (settled at 0 %) only pin the percent: not worth a line.
    let lines: Vec<&LedgerEntry> = lines.iter().filter(|l| l.amount != 0).collect();
    if percent == 0 && lines.is_empty() {
        return lang
            .pick("这个机器人没有开启返利。", "This bot does not pay rebates.")
            .into();
    }
    let mut out = match lang {
        Lang::Zh => format!(
            "💰 <b>我的返利</b>\n可提现：{}\n待结算（预估）：{}\n累计返利：{}\n已打款：{}",
            yuan(b.available),
            yuan(b.pending),
            yuan(b.lifetime),
            yuan(b.paid_out)
        ),
        Lang::En => format!(
            "💰 <b>My rebate</b>\nAvailable: {}\nPending (estimated): {}\nEarned in all: {}\nPaid out: {}",
            yuan(b.available),
            yuan(b.pending),
            yuan(b.lifetime),
            yuan(b.paid_out)
        ),
    };
    if b.available < 0 {
        // Never hidden, never clamped: a refund after a payout.
        out.push_str(&match lang {
            Lang::Zh => format!(
                "\n⚠️ 有订单在打款后退款，你目前欠 {}，之后的返利会先抵扣。",
                yuan(-b.available)
            ),
            Lang::En => format!(
                "\n⚠️ An order was refunded after a payout: you owe {}; later rebates pay it off first.",
                yuan(-b.available)
            ),
        });
    }
    if !lines.is_empty() {
        out.push_str(lang.pick("\n\n最近记录：", "\n\nLatest entries:"));
        for l in lines.iter().rev() {
            out.push_str(&format!(
                "\n• {} {}",
                crate::poller::china_time(l.created_at),
                line(lang, l)
            ));
        }
    }
    out
}

/// One ledger line in words.
fn line(lang: Lang, l: &LedgerEntry) -> String {
    let amount = if l.amount >= 0 {
        format!("+{}", yuan(l.amount))
    } else {
        yuan(l.amount)
    };
    let order = l.order_id.as_deref().map(escape).unwrap_or_default();
    let note = l
        .note
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .map(|n| format!("（{}）", escape(&super::bounded(n, 40))))
        .unwrap_or_default();
    match (l.kind, lang) {
        (LedgerKind::Accrual, Lang::Zh) => format!("订单 {order} 返利 {amount}"),
        (LedgerKind::Accrual, Lang::En) => format!("order {order} rebate {amount}"),
        (LedgerKind::Reversal, Lang::Zh) => format!("订单 {order} 退款扣回 {amount}"),
        (LedgerKind::Reversal, Lang::En) => format!("order {order} refunded {amount}"),
        (LedgerKind::Payout, Lang::Zh) => format!("打款 {amount}{note}"),
        (LedgerKind::Payout, Lang::En) => format!("paid out {amount}{note}"),
        (LedgerKind::Adjustment, Lang::Zh) => format!("调整 {amount}{note}"),
        (LedgerKind::Adjustment, Lang::En) => format!("adjustment {amount}{note}"),
    }
}

pub fn balance_in_private(lang: Lang) -> &'static str {
    lang.pick(
        "🔒 返利只在私聊里查看：请私聊我发送 /balance。",
        "🔒 Your rebate is shown in a private chat only: send me /balance privately.",
    )
}

pub fn payout_usage(lang: Lang, why: &str) -> String {
    match lang {
        Lang::Zh => format!(
            "用法：/payout 用户ID 金额 [备注]，金额以元为单位，最多两位小数，例如 /payout 123456 12.34 支付宝\n{}",
            escape(why)
        ),
        Lang::En => format!(
            "Usage: /payout USER_ID AMOUNT [note], the amount in yuan with at most two decimals, e.g. /payout 123456 12.34 alipay\n{}",
            escape(why)
        ),
    }
}

/// The question under which the confirm button sits.
pub fn payout_confirm(lang: Lang, user_id: u64, amount: i64, note: &str, available: i64) -> String {
    let note = escape(note.trim());
    match lang {
        Lang::Zh => format!(
            "💸 确认向用户 <code>{user_id}</code> 打款 {}？\n备注：{note}\n打款前可提现：{}\n按下按钮后记入账本并通知用户（5 分钟内有效）。",
            yuan(amount),
            yuan(available)
        ),
        Lang::En => format!(
            "💸 Pay {} to user <code>{user_id}</code>?\nNote: {note}\nAvailable before: {}\nThe button writes it to the ledger and tells the user (valid 5 minutes).",
            yuan(amount),
            yuan(available)
        ),
    }
}

pub fn payout_button(lang: Lang) -> &'static str {
    lang.pick("✅ 确认打款", "✅ Confirm payout")
}

pub fn payout_done(lang: Lang, user_id: u64, amount: i64, balance: i64) -> String {
    match lang {
        Lang::Zh => format!(
            "✅ 已向用户 <code>{user_id}</code> 打款 {}，其余额：{}。已通知用户。",
            yuan(amount),
            yuan(balance)
        ),
        Lang::En => format!(
            "✅ Paid {} to user <code>{user_id}</code>; their balance: {}. They are told.",
            yuan(amount),
            yuan(balance)
        ),
    }
}

/// Why a payout was refused, for the operator.
pub fn payout_refused(lang: Lang, why: &PayoutRefused) -> String {
    match (why, lang) {
        (PayoutRefused::UnknownUser(u), Lang::Zh) => {
            format!("❌ 没有用户 <code>{u}</code> 的订单或返利记录，不能打款。")
        }
        (PayoutRefused::UnknownUser(u), Lang::En) => {
            format!("❌ User <code>{u}</code> has no order and no rebate: no payout.")
        }
        (PayoutRefused::OverBalance { available, .. }, Lang::Zh) if *available < 0 => format!(
            "❌ 该用户余额为负（欠 {}，打款后有订单退款），转正之前不能打款。",
            yuan(-available)
        ),
        (PayoutRefused::OverBalance { available, .. }, Lang::En) if *available < 0 => format!(
            "❌ This user's balance is negative (they owe {} after a refund): no payout until it is positive again.",
            yuan(-available)
        ),
        (PayoutRefused::OverBalance { amount, available }, Lang::Zh) => format!(
            "❌ 打款 {} 超过可提现余额 {}。",
            yuan(*amount),
            yuan(*available)
        ),
        (PayoutRefused::OverBalance { amount, available }, Lang::En) => format!(
            "❌ {} is more than the available balance, {}.",
            yuan(*amount),
            yuan(*available)
        ),
        (PayoutRefused::AlreadyDone, Lang::Zh) => "这笔打款已经完成了。".into(),
        (PayoutRefused::AlreadyDone, Lang::En) => "This payout was already made.".into(),
        (PayoutRefused::Expired, Lang::Zh) => "这个确认已过期，请重新发送 /payout。".into(),
        (PayoutRefused::Expired, Lang::En) => {
            "This confirmation has expired; send /payout again.".into()
        }
        (PayoutRefused::NotYours, Lang::Zh) => "这是另一位管理员的打款确认。".into(),
        (PayoutRefused::NotYours, Lang::En) => {
            "This confirmation belongs to another operator.".into()
        }
    }
}
