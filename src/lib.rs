//! douyin-link-bot: converts Douyin product references pasted in Telegram chats into the
//! operator's affiliate 抖口令 and tells users about the orders bought through them.
//!
//! The flow, one module per step: [`detect`] (pure) → [`convert`] ([`veapi`] with
//! [`tracking`]'s `external_info`, remembered in [`store`]) → [`telegram`] replies;
//! [`poller`] (orders → store + outbox, one transaction) → [`notify`] (outbox → Telegram),
//! with [`alerts`] telling the operators when upstream needs them; [`chart`] draws `/stats`'
//! picture. [`http`] serves health, metrics, in webhook mode the updates Telegram posts, and
//! with `PUBLIC_URL` the operator's [`dashboard`].

pub mod alerts;
pub mod app;
pub mod chart;
pub mod cli;
pub mod config;
pub mod convert;
pub mod dashboard;
pub mod details_lookup;
pub mod detect;
pub mod doctor;
pub mod events;
pub mod http;
pub mod instance;
pub mod lang;
pub mod lease;
pub mod logging;
pub mod money;
pub mod notify;
pub mod poller;
pub mod ratelimit;
pub mod resolve;
pub mod secret;
pub mod store;
pub mod telegram;
pub mod tracking;
pub mod veapi;
