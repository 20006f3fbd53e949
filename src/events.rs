//! What the bot has to tell someone, as facts: the outbox keeps these (as JSON), never the
//! finished message, and the notifier renders them when it sends, in the language the reader
//! has then ([`crate::telegram::texts::event`]). A user who switches to English with `/lang`
//! while news waits gets it in English; a wording fixed in a release applies to news that
//! was already waiting.

use crate::veapi::{ErrorClass, Order};
use serde::{Deserialize, Serialize};

/// One message's facts. Serialized with a `kind` tag; variants and fields are only ever
/// added (rows written by an older release must still read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// An order bought through the user's link: its state when the news was written.
    Order {
        news: OrderNews,
        order: OrderFacts,
    },
    /// Polling or converting stopped working and the operator has to act or know.
    AlertOpened {
        source: AlertSource,
        class: AlertClass,
        /// Upstream's own words (shown to operators only).
        detail: String,
    },
    AlertRecovered {
        source: AlertSource,
    },
    /// An order upstream sent that could not be read.
    UnreadableOrder {
        order_id: String,
        reason: String,
    },
    /// A poll stopped at its cap on veapi calls.
    CallCap {
        calls: usize,
        window: String,
    },
    /// The operator paid the user `amount` fen; `balance` is what was left right after.
    Payout {
        amount: i64,
        note: String,
        balance: i64,
    },
    /// The operator corrected the user's balance by `amount` fen (signed), for `reason`.
    Adjustment {
        amount: i64,
        reason: String,
        balance: i64,
    },
    /// A finished message (HTML), for text that has no facts behind it.
    Text {
        html: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderNews {
    New,
    Refunded,
    Settled,
}

/// What a message says about an order (amounts in fen).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderFacts {
    pub order_id: String,
    #[serde(default)]
    pub product_id: String,
    #[serde(default)]
    pub product_name: String,
    #[serde(default)]
    pub flow_point: String,
    #[serde(default)]
    pub total_pay_amount: i64,
    #[serde(default)]
    pub estimated_commission: i64,
    #[serde(default)]
    pub real_commission: i64,
}

impl From<&Order> for OrderFacts {
    fn from(o: &Order) -> Self {
        OrderFacts {
            order_id: o.order_id.clone(),
            product_id: o.product_id.clone(),
            product_name: o.product_name.clone(),
            flow_point: o.flow_point.clone(),
            total_pay_amount: o.total_pay_amount,
            estimated_commission: o.estimated_commission,
            real_commission: o.real_commission,
        }
    }
}

/// What stopped working, for an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertSource {
    Orders,
    Conversion,
    UnreadableOrders,
    OrderPaging,
}

/// What the operator has to do about it ([`ErrorClass`] as stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertClass {
    /// Re-authorize in veapi's member centre.
    Authorization,
    /// The key is wrong, expired or out of quota.
    KeyOrQuota,
    /// Upstream answered something the bot cannot read.
    Unexpected,
    /// Repeated failures the bot keeps retrying.
    #[serde(other)]
    Retrying,
}

impl From<ErrorClass> for AlertClass {
    fn from(c: ErrorClass) -> Self {
        match c {
            ErrorClass::Authorization => AlertClass::Authorization,
            ErrorClass::KeyOrQuota => AlertClass::KeyOrQuota,
            ErrorClass::Unexpected => AlertClass::Unexpected,
            _ => AlertClass::Retrying,
        }
    }
}

impl Event {
    /// The stored form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an event always serializes")
    }

    /// A stored event; None when a row holds something this release cannot read (the
    /// notifier then sends the row's text, or parks it with the reason).
    pub fn from_json(s: &str) -> Option<Event> {
        serde_json::from_str(s).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_back_as_written_and_old_kinds_stay_readable() {
        let e = Event::Order {
            news: OrderNews::Settled,
            order: OrderFacts {
                order_id: "69".into(),
                product_id: "358".into(),
                product_name: "<b>袜子</b>".into(),
                flow_point: "SETTLE".into(),
                total_pay_amount: 2100,
                estimated_commission: 420,
                real_commission: 400,
            },
        };
        assert_eq!(Event::from_json(&e.to_json()), Some(e));
        // The stored shape is part of the store's contract: rows outlive releases.
        let stored =
            r#"{"kind":"alert_opened","source":"orders","class":"key_or_quota","detail":"x"}"#;
        assert_eq!(
            Event::from_json(stored),
            Some(Event::AlertOpened {
                source: AlertSource::Orders,
                class: AlertClass::KeyOrQuota,
                detail: "x".into()
            })
        );
        let unknown_class =
            r#"{"kind":"alert_opened","source":"orders","class":"new","detail":""}"#;
        assert!(matches!(
            Event::from_json(unknown_class),
            Some(Event::AlertOpened {
                class: AlertClass::Retrying,
                ..
            })
        ));
        assert_eq!(Event::from_json(r#"{"kind":"from_the_future"}"#), None);
        assert_eq!(Event::from_json("<b>html</b>"), None);
    }
}
