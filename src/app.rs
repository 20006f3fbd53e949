//! `run`: the bot, wired together, until `shutdown` resolves.

use crate::config::{Config, ConfigError};
use crate::convert::{ConversionService, Converter};
use crate::store::{Store, StoreError};
use crate::telegram::{self, Command};
use crate::veapi::{VeapiClient, VeapiError};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use teloxide::error_handlers::LoggingErrorHandler;
use teloxide::prelude::*;
use teloxide::update_listeners::Polling;
use teloxide::utils::command::BotCommands;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Veapi(#[from] VeapiError),
    #[error("Telegram: {0}")]
    Telegram(String),
}

/// Runs the bot until `shutdown` resolves, then stops taking updates, lets handlers in
/// progress finish, and closes the store.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AppError> {
    let token = config.bot_token.clone().ok_or(ConfigError::Missing {
        var: "TELEGRAM_BOT_TOKEN",
        hint: "put the token from @BotFather in .env (see .env.example)",
    })?;
    let veapi_cfg = config.veapi.clone().ok_or(ConfigError::Missing {
        var: "VEAPI_KEY",
        hint: "put your veapi vekey in .env (see .env.example)",
    })?;
    let store = Store::open(&config.database_url).await?;
    let veapi = VeapiClient::new(&veapi_cfg)?;
    let converter: Arc<dyn Converter> = Arc::new(ConversionService::new(
        veapi,
        store.clone(),
        config.cache_ttl,
    ));
    let bot = telegram::bot(&token, config.telegram_api_url.clone())
        .map_err(|e| AppError::Telegram(e.without_url().to_string()))?;
    let bot = telegram::throttled(bot);

    // The command menu is a convenience: a failure here must not stop the bot.
    if let Err(e) = bot.set_my_commands(Command::bot_commands()).await {
        tracing::warn!(error = %e, "could not set the command menu");
    }

    let mut dispatcher = Dispatcher::builder(bot.clone(), telegram::schema())
        .dependencies(dptree::deps![converter])
        .default_handler(|_| async {})
        .build();
    let stop = dispatcher.shutdown_token();
    let stopper = tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down");
        // The dispatcher refuses a shutdown before it has started; try until it takes.
        loop {
            match stop.shutdown() {
                Ok(done) => break done.await,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });

    let listener = Polling::builder(bot.clone())
        .timeout(Duration::from_secs(10))
        .delete_webhook()
        .await
        .build();
    tracing::info!("bot started, polling for updates");
    let result = dispatcher
        .try_dispatch_with_listener(
            listener,
            LoggingErrorHandler::with_custom_text("getUpdates failed"),
        )
        .await;
    stopper.abort();
    store.close().await;
    result.map_err(|e| AppError::Telegram(e.to_string()))
}
