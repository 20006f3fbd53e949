//! The bot's HTTP server: health and readiness for the orchestrator, Prometheus metrics,
//! and in webhook mode the endpoint Telegram posts updates to. Started only when
//! `HTTP_LISTEN` is set (always in webhook mode).

pub mod health;
pub mod metrics;
pub mod server;
pub mod webhook;
