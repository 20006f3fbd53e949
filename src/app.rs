//! `run`: the bot, wired together, until `shutdown` resolves.
//!
//! Updates come in by long polling, or in webhook mode (`WEBHOOK_URL`) through the HTTP
//! server, which also serves health and metrics whenever `HTTP_LISTEN` is set, and the
//! operator's dashboard when `PUBLIC_URL` is too.

use crate::alerts::Alerts;
use crate::config::{Config, ConfigError};
use crate::convert::{ConversionService, Converter};
use crate::http::server::{self, WebhookRoute};
use crate::http::{metrics, webhook};
use crate::instance;
use crate::lang::Lang;
use crate::lease::{self, Lease};
use crate::notify::{GroupFallback, Messenger, Notifier, NotifierSettings};
use crate::poller::{Poller, PollerSettings};
use crate::resolve::ShortLinks;
use crate::store::{Engine, Store, StoreError};
use crate::telegram;
use crate::veapi::{Upstream, VeapiClient, VeapiError};
use futures::future::{BoxFuture, FutureExt, Shared};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use teloxide::error_handlers::LoggingErrorHandler;
use teloxide::prelude::*;
use teloxide::update_listeners::Polling;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

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
    #[error("HTTP server: {0}")]
    Http(String),
}

/// How long a stop waits for HTTP requests in progress (a client that never finishes its
/// request must not hold the process).
const HTTP_DRAIN: Duration = Duration::from_secs(10);

/// Timings of the background loops; `run` derives them from the configuration.
#[derive(Debug, Clone)]
pub struct Tuning {
    pub poller: PollerSettings,
    pub notifier: NotifierSettings,
}

impl Tuning {
    pub fn from_config(config: &Config) -> Self {
        Tuning {
            poller: PollerSettings::new(config.poll_interval),
            notifier: NotifierSettings {
                claim: config.outbox_claim,
                ..NotifierSettings::default()
            },
        }
    }
}

/// Runs the bot until `shutdown` resolves, then stops taking updates, lets handlers in
/// progress finish, and closes the store.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AppError> {
    let tuning = Tuning::from_config(&config);
    run_tuned(config, tuning, shutdown).await
}

/// [`run`] with explicit loop timings (tests poll faster than any operator would).
pub async fn run_tuned(
    config: Config,
    tuning: Tuning,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AppError> {
    let http = match config.http_listen {
        Some(addr) => Some(
            server::bind(addr)
                .await
                .map_err(|e| AppError::Http(e.to_string()))?,
        ),
        None => None,
    };
    run_on(config, tuning, http, shutdown).await
}

/// [`run_tuned`] serving HTTP on a socket the caller bound instead of binding `HTTP_LISTEN`
/// (a test binds port 0 and reads which port it got). None: no HTTP server, which webhook
/// mode cannot do without.
pub async fn run_on(
    config: Config,
    tuning: Tuning,
    http: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AppError> {
    if config.webhook.is_some() && http.is_none() {
        return Err(AppError::Config(ConfigError::Missing {
            var: "HTTP_LISTEN",
            hint: "webhook mode receives updates through the HTTP server",
        }));
    }
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
    let wake = Arc::new(Notify::new());
    let alerts = Alerts::new(store.clone(), config.admin_user_ids.clone(), wake.clone()).await?;
    let upstream = Upstream::new(veapi, veapi_cfg.provider);
    tracing::info!(provider = %upstream.provider, "veapi provider");
    let short_links = ShortLinks::configured(&veapi_cfg)
        .map_err(|e| AppError::Http(format!("short-link resolver: {e}")))?;
    let converter: Arc<dyn Converter> = Arc::new(ConversionService::for_provider(
        upstream.links.clone(),
        upstream.provider,
        short_links,
        store.clone(),
        config.cache_ttl,
        Some(alerts.clone()),
    ));
    let bot = telegram::bot(&token, config.telegram_api_url.clone())
        .map_err(|e| AppError::Telegram(e.without_url().to_string()))?;
    let tg = telegram::Telegram::new(bot.clone());

    // Fail fast and clearly on a wrong token or an unreachable Bot API, before anything runs.
    let me = bot.get_me().await.map_err(|e| match e {
        teloxide::RequestError::Api(teloxide::ApiError::InvalidToken) => {
            AppError::Config(ConfigError::Invalid {
                var: "TELEGRAM_BOT_TOKEN",
                value: "***".into(),
                hint: "Telegram rejected it; copy the token from @BotFather again",
            })
        }
        other => AppError::Telegram(format!(
            "cannot reach the Bot API at {} (check TELEGRAM_API_URL and the network): {other}",
            config.telegram_api_url
        )),
    })?;

    // The command menu is a convenience: a failure here must not stop the bot. Telegram
    // shows the English one to apps set to English, the default to everyone else.
    if let Err(e) = bot.set_my_commands(crate::telegram::menu(Lang::Zh)).await {
        tracing::warn!(error = %e, "could not set the command menu");
    }
    if let Err(e) = bot
        .set_my_commands(crate::telegram::menu(Lang::En))
        .language_code("en")
        .await
    {
        tracing::warn!(error = %e, "could not set the English command menu");
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    // Several instances may share the store: the poller runs where its lease is held, and
    // each instance keeps to its share of Telegram's overall limit.
    // The presence ends last, after every send of this instance: until then the others
    // keep to their share of the bot's limit.
    let (presence_stop, presence_rx) = watch::channel(false);
    let presence_task = {
        let tg = tg.clone();
        instance::spawn_presence(store.clone(), move |n| tg.share_pace_with(n), presence_rx)
    };
    let (lease, lease_task) = Lease::spawn(
        store.clone(),
        lease::POLLER,
        instance::id().to_string(),
        tuning.poller.interval / 2,
        stop_rx.clone(),
    );

    // The HTTP server, up before setWebhook so Telegram's first post finds it. It stops
    // accepting when the stop flag turns; what it acknowledged is in the listener's channel.
    // Each update's work in a task of its own (see `telegram::detach` for why); the webhook
    // stops taking updates when their bound is reached, and a stop waits for them below.
    let detach = telegram::detach::Detach::new();
    let (webhook_route, webhook_listener) = match &config.webhook {
        Some(w) => {
            let (state, listener) =
                webhook::channel(w.secret.clone(), store.clone(), detach.clone());
            let path = w.url.path().to_string();
            (Some(WebhookRoute { path, state }), Some(listener))
        }
        None => (None, None),
    };
    let http_served = http.is_some();
    let http_done: Option<Shared<BoxFuture<'static, ()>>> = match http {
        Some(listener) => {
            let addr = listener
                .local_addr()
                .map_err(|e| AppError::Http(e.to_string()))?;
            let mut app = server::router(
                store.clone(),
                upstream.provider,
                metrics::install(),
                webhook_route,
            );
            if let Some(public_url) = &config.public_url {
                app = app.merge(crate::dashboard::router(crate::dashboard::DashboardState {
                    store: store.clone(),
                    admins: Arc::new(config.admin_user_ids.clone()),
                    public_url: public_url.clone(),
                    provider: upstream.provider,
                    wake: Some(wake.clone()),
                }));
            }
            let mut stopped = stop_rx.clone();
            let task = server::serve(listener, app, async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            });
            tracing::info!(%addr, "HTTP server listening");
            Some(
                task.map(|r| match r {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "HTTP server failed"),
                    Err(e) => tracing::error!(error = %e, "HTTP server task failed"),
                })
                .boxed()
                .shared(),
            )
        }
        None => None,
    };
    if let Some(w) = &config.webhook {
        // drop_pending_updates false: updates that queued while no instance listened are
        // still delivered. The webhook stays set when this instance stops: others may serve it.
        let registered = bot
            .set_webhook(w.url.clone())
            .secret_token(w.secret.expose().to_string())
            .allowed_updates(telegram::ALLOWED_UPDATES.to_vec())
            .drop_pending_updates(false)
            .await;
        if let Err(e) = registered {
            let _ = stop_tx.send(true);
            if let Some(done) = http_done {
                let _ = tokio::time::timeout(HTTP_DRAIN, done).await;
            }
            store.close().await;
            return Err(AppError::Telegram(format!("setWebhook failed: {e}")));
        }
    }

    let poller = Poller::new(
        upstream.orders.clone(),
        store.clone(),
        // The percent is configuration, not a timing: tuned tests keep it.
        PollerSettings {
            rebate_percent: config.rebate_percent,
            ..tuning.poller
        },
        Some(alerts.clone()),
        wake.clone(),
    )
    .with_lease(lease);
    let policy = Arc::new(telegram::Policy::new(&config).serving_http(http_served));
    // Groups that became supergroups while the bot was running before: the allow-list
    // follows them (applied in the order they happened, so chains resolve).
    for (from, to) in store.chat_migrations().await? {
        policy.follow_migration(from, to);
    }
    let messenger: Arc<dyn Messenger> = Arc::new(tg.clone());
    let mut notifier_settings = tuning.notifier;
    notifier_settings.rebate_percent = config.rebate_percent;
    if store.engine() == Engine::Postgres {
        // Other instances may be the ones writing the outbox (the poller runs on one), and
        // only this process's writes wake this notifier: it looks every second.
        notifier_settings.idle_poll = notifier_settings.idle_poll.min(Duration::from_secs(1));
    }
    let notifier = Notifier::new(store.clone(), messenger, wake.clone(), notifier_settings)
        .with_group_fallback(GroupFallback {
            amounts: config.group_fallback_amounts,
            bot_username: me.user.username.clone(),
            policy: Some(policy.clone()),
        });
    let poller_task = tokio::spawn(poller.run(stop_rx.clone()));
    let notifier_task = tokio::spawn(notifier.run(stop_rx));

    let mut dispatcher = Dispatcher::builder(bot.clone(), detach.handler(telegram::schema()))
        .dependencies(dptree::deps![
            tg,
            converter,
            store.clone(),
            policy,
            alerts,
            telegram::NotifierWake(wake),
            Arc::new(telegram::inline::Inline::new(me.user.username.clone()))
        ])
        .default_handler(|_| async {})
        .build();
    let stop = dispatcher.shutdown_token();
    let signal_tx = stop_tx.clone();
    let drain_first = webhook_listener.as_ref().and(http_done.clone());
    let stopper = tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down");
        let _ = signal_tx.send(true);
        // Webhook mode: stop accepting and answer the requests in progress first, so every
        // update acknowledged is in the channel before the dispatcher drains it.
        if let Some(done) = drain_first {
            if tokio::time::timeout(HTTP_DRAIN, done).await.is_err() {
                tracing::warn!("HTTP requests still in progress after the drain time");
            }
        }
        // The dispatcher refuses a shutdown before it has started; try until it takes.
        loop {
            match stop.shutdown() {
                Ok(done) => break done.await,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });

    let result = match webhook_listener {
        Some(listener) => {
            tracing::info!(bot = %me.username(), "bot started, taking updates by webhook");
            dispatcher
                .try_dispatch_with_listener(
                    listener,
                    LoggingErrorHandler::with_custom_text("webhook listener failed"),
                )
                .await
        }
        None => {
            let listener = Polling::builder(bot.clone())
                .timeout(Duration::from_secs(10))
                .delete_webhook()
                .await
                .build();
            tracing::info!(bot = %me.username(), "bot started, polling for updates");
            dispatcher
                .try_dispatch_with_listener(
                    listener,
                    LoggingErrorHandler::with_custom_text("getUpdates failed"),
                )
                .await
        }
    };
    // The dispatcher has handed over its last update: every update taken is handled (its
    // replies sent, its conversions kept) before the store closes, as when the dispatcher's
    // own workers handled them.
    detach.finish().await;
    stopper.abort();
    let _ = stop_tx.send(true);
    if let Some(done) = http_done {
        let _ = tokio::time::timeout(HTTP_DRAIN, done).await;
    }
    let _ = poller_task.await;
    let _ = notifier_task.await;
    // The poller's lease and this instance's presence are released before the store
    // closes: another instance takes over the poller at once, not after the lease lapses.
    let _ = lease_task.await;
    let _ = presence_stop.send(true);
    let _ = presence_task.await;
    store.close().await;
    result.map_err(|e| AppError::Telegram(e.to_string()))
}
