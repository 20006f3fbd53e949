//! The command line: `run` (default), `detect`, `convert`, `orders`, `doctor`, `ledger`,
//! `payout`, `adjust`.

mod ledger;

// The ledger's CSV, shared with the dashboard's download.
pub(crate) use ledger::{csv_field, yuan, Line, CSV_HEADER};

use crate::app::{self, AppError};
use crate::config::{Config, ConfigError, Needs};
use crate::convert::{upstream_value, ConvertError};
use crate::detect::{detect, Reference};
use crate::logging;
use crate::poller::{china_time, parse_china_time, Next, Pager, PollerSettings};
use crate::resolve::ShortLinks;
use crate::tracking::{self, Attribution};
use crate::veapi::{Order, ShareRequest, Upstream, VeapiClient, Window};
use clap::{Parser, Subcommand};
use serde::Serialize;
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "douyin-link-bot",
    version,
    about = "Converts Douyin product links into affiliate 抖口令 on Telegram"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the bot (long polling). The default.
    Run,
    /// Find product references in stdin and print them as JSON. Needs no configuration.
    Detect {
        /// Each input line is {"text": "..."}; each output line is {"refs": [...]}.
        #[arg(long)]
        jsonl: bool,
    },
    /// Detect and convert TEXT once for a Telegram user id, printing JSON (no cache, no store).
    Convert {
        #[arg(long)]
        user_id: u64,
        /// The message text; several words are joined by spaces.
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
    },
    /// Run one order poll and print the orders found, one JSON object a line. Sends no
    /// notifications and writes nothing to the store.
    Orders {
        /// Start of the window, China time "YYYY-MM-DD HH:MM:SS" (default: 24 hours ago).
        #[arg(long, conflicts_with = "order_id")]
        since: Option<String>,
        /// Look these orders up by id instead (repeatable, at most 10).
        #[arg(long = "order-id", num_args = 1)]
        order_id: Vec<String>,
    },
    /// Check the set-up: every variable, the bot token, the veapi key and order source, the
    /// store. Prints a checklist with what to do; exits 0 only when nothing failed.
    Doctor,
    /// Print the rebate ledger, oldest first: one JSON object a line (or CSV). Needs only
    /// DATABASE_URL.
    Ledger {
        /// Only this Telegram user's lines.
        #[arg(long)]
        user: Option<u64>,
        /// CSV with a header instead of JSON lines.
        #[arg(long)]
        csv: bool,
    },
    /// Pay a user out of their available rebate balance: one ledger line, and a message to
    /// the user (sent by the running bot). Prints the balance after. Needs only DATABASE_URL.
    Payout {
        /// The user's Telegram id.
        #[arg(long)]
        user: u64,
        /// Yuan, at most two decimals, like 12 or 12.34.
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        /// What the payout was (shown to the user and kept in the ledger).
        #[arg(long)]
        note: String,
    },
    /// Correct a user's rebate balance: a signed amount in yuan (`-3.50` debits) with a
    /// reason; one ledger line and a message to the user. Needs only DATABASE_URL.
    Adjust {
        /// The user's Telegram id.
        #[arg(long)]
        user: u64,
        /// Yuan, at most two decimals, `-` for a debit: 3.50 or -3.50.
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        /// Why (shown to the user and kept in the ledger); required.
        #[arg(long)]
        reason: String,
    },
}

/// Exit code for configuration problems, as for usage errors.
pub(crate) const EXIT_CONFIG: u8 = 2;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = dotenvy::dotenv() {
        if !e.not_found() {
            eprintln!("error: .env could not be read: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    }
    let both = Needs {
        telegram: true,
        veapi: true,
    };
    let veapi_only = Needs {
        telegram: false,
        veapi: true,
    };
    match cli.command.unwrap_or(Cmd::Run) {
        Cmd::Detect { jsonl } => run_detect(jsonl),
        Cmd::Doctor => crate::doctor::main(),
        Cmd::Run => with_config(both, |config| {
            block_on(app::run(config, shutdown_signal()), |e| match e {
                AppError::Config(c) => Failure::Config(c.to_string()),
                other => Failure::Other(other.to_string()),
            })
        }),
        Cmd::Convert { user_id, text } => with_config(veapi_only, |config| {
            block_on(run_convert(config, user_id, text.join(" ")), Failure::Other)
        }),
        Cmd::Orders { since, order_id } => with_config(veapi_only, |config| {
            block_on(run_orders(config, since, order_id), Failure::Other)
        }),
        Cmd::Ledger { user, csv } => with_config(Needs::default(), |config| {
            block_on(ledger::run_ledger(config, user, csv), |f| f)
        }),
        Cmd::Payout { user, amount, note } => with_config(Needs::default(), |config| {
            block_on(ledger::run_payout(config, user, &amount, &note), |f| f)
        }),
        Cmd::Adjust {
            user,
            amount,
            reason,
        } => with_config(Needs::default(), |config| {
            block_on(ledger::run_adjust(config, user, &amount, &reason), |f| f)
        }),
    }
}

/// Runs `work` on a fresh multi-threaded runtime.
fn block_on<E>(
    work: impl std::future::Future<Output = Result<(), E>>,
    failure: impl FnOnce(E) -> Failure,
) -> Result<(), Failure> {
    runtime()
        .map_err(Failure::Other)?
        .block_on(work)
        .map_err(failure)
}

/// How a command failed: configuration problems exit 2, like usage errors.
enum Failure {
    Config(String),
    Other(String),
}

fn with_config(needs: Needs, f: impl FnOnce(Config) -> Result<(), Failure>) -> ExitCode {
    let config = match Config::from_env(needs) {
        Ok(c) => c,
        Err(e) => return config_error(&e),
    };
    let mut secrets = Vec::new();
    if let Some(t) = &config.bot_token {
        secrets.push(t.expose().to_string());
    }
    if let Some(v) = &config.veapi {
        secrets.push(v.key.expose().to_string());
        secrets.extend(v.access_token.iter().map(|s| s.expose().to_string()));
        secrets.extend(v.sessionkey.iter().map(|s| s.expose().to_string()));
    }
    if let Some(w) = &config.webhook {
        secrets.push(w.secret.expose().to_string());
    }
    logging::init(secrets);
    match f(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(Failure::Other(e)) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn config_error(e: &ConfigError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(EXIT_CONFIG)
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[derive(Serialize)]
struct RefsLine<'a> {
    refs: &'a [Reference],
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(serde::Deserialize)]
struct InputLine {
    text: String,
}

fn write_refs(out: &mut impl Write, refs: &[Reference], error: Option<String>) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &RefsLine { refs, error })?;
    out.write_all(b"\n")
}

fn run_detect(jsonl: bool) -> ExitCode {
    let stdin = io::stdin();
    let mut out = BufWriter::new(io::stdout().lock());
    let mut bad_lines = 0usize;
    let result: io::Result<()> = (|| {
        if !jsonl {
            let mut raw = Vec::new();
            stdin.lock().read_to_end(&mut raw)?;
            // Offsets are into the text as decoded: invalid bytes become U+FFFD.
            return write_refs(&mut out, &detect(&String::from_utf8_lossy(&raw)), None);
        }
        for (n, line) in stdin.lock().split(b'\n').enumerate() {
            let line = line?;
            let line = match String::from_utf8(line) {
                Ok(l) => l,
                Err(e) => {
                    bad_lines += 1;
                    eprintln!("line {}: not UTF-8", n + 1);
                    write_refs(&mut out, &[], Some(format!("invalid input line: {e}")))?;
                    continue;
                }
            };
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<InputLine>(line) {
                Ok(input) => write_refs(&mut out, &detect(&input.text), None)?,
                Err(e) => {
                    bad_lines += 1;
                    eprintln!("line {}: not a {{\"text\": ...}} object: {e}", n + 1);
                    write_refs(&mut out, &[], Some(format!("invalid input line: {e}")))?;
                }
            }
        }
        Ok(())
    })();
    let flushed = out.flush();
    match result.and(flushed) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
        Ok(()) if bad_lines > 0 => ExitCode::FAILURE,
        Ok(()) => ExitCode::SUCCESS,
    }
}

#[derive(Serialize)]
struct ConvertOutput {
    user_id: u64,
    external_info: String,
    results: Vec<ConvertResult>,
}

#[derive(Serialize)]
struct ConvertResult {
    #[serde(flatten)]
    reference: Reference,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    dy_password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    coupon_command: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    share_link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

async fn run_convert(config: Config, user_id: u64, text: String) -> Result<(), String> {
    let veapi_cfg = config.veapi.as_ref().ok_or("VEAPI_KEY is not set")?;
    let client = VeapiClient::new(veapi_cfg).map_err(|e| e.to_string())?;
    let links = Upstream::new(client, veapi_cfg.provider).links;
    let short_links = ShortLinks::configured(veapi_cfg).map_err(|e| e.to_string())?;
    let external_info = tracking::encode(user_id);
    let refs = detect(&text);
    if refs.is_empty() {
        return Err("no Douyin product reference found in TEXT".into());
    }
    let mut results = Vec::new();
    for reference in refs {
        let value = upstream_value(veapi_cfg.provider, short_links.as_ref(), &reference).await;
        let r = match &value {
            Ok(product_url) => links
                .share(&ShareRequest {
                    product_url,
                    external_info: &external_info,
                    use_coupon: reference.kind.needs_coupon(),
                })
                .await
                .map_err(ConvertError::from),
            Err(e) => Err(e.clone()),
        };
        results.push(match r {
            Ok(link) => ConvertResult {
                reference,
                ok: true,
                dy_password: Some(link.dy_password),
                coupon_command: link.coupon.map(|c| c.share_command),
                share_link: link.share_link,
                error_class: None,
                error: None,
            },
            Err(e) => ConvertResult {
                reference,
                ok: false,
                dy_password: None,
                coupon_command: None,
                share_link: None,
                error_class: Some(match &e {
                    ConvertError::Upstream(up) => format!("{:?}", up.class()).to_lowercase(),
                    ConvertError::NeedsProductLink => "needs_product_link".into(),
                    ConvertError::NotAProduct(_) => "not_a_product".into(),
                    ConvertError::Unresolved => "unresolved".into(),
                    ConvertError::Store(_) => "store".into(),
                }),
                error: Some(e.to_string()),
            },
        });
    }
    let all_failed = results.iter().all(|r| !r.ok);
    let out = ConvertOutput {
        user_id,
        external_info,
        results,
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?
    );
    if all_failed {
        Err("no reference could be converted".into())
    } else {
        Ok(())
    }
}

#[derive(Serialize)]
struct OrderLine<'a> {
    #[serde(flatten)]
    order: &'a Order,
    /// The Telegram user the order is attributed to, when its external_info is ours.
    telegram_user_id: Option<u64>,
}

fn print_order(out: &mut impl Write, order: &Order) -> Result<bool, String> {
    // Prints only, so an earlier-format value is shown as the user it names, unconfirmed.
    let telegram_user_id = order
        .attribution()
        .and_then(|v| match tracking::attribute(v) {
            Attribution::User(id) | Attribution::Legacy(id) => Some(id),
            Attribution::Corrupt(_) | Attribution::Foreign => None,
        });
    serde_json::to_writer(
        &mut *out,
        &OrderLine {
            order,
            telegram_user_id,
        },
    )
    .map_err(|e| e.to_string())?;
    out.write_all(b"\n").map_err(|e| e.to_string())?;
    Ok(telegram_user_id.is_some())
}

async fn run_orders(
    config: Config,
    since: Option<String>,
    order_ids: Vec<String>,
) -> Result<(), String> {
    let veapi_cfg = config.veapi.as_ref().ok_or("VEAPI_KEY is not set")?;
    let client = VeapiClient::new(veapi_cfg).map_err(|e| e.to_string())?;
    let source = Upstream::new(client, veapi_cfg.provider).orders;
    if !order_ids.is_empty() {
        if order_ids.len() > 10 {
            return Err("at most 10 --order-id at once (upstream's limit)".into());
        }
        let ids: Vec<&str> = order_ids.iter().map(String::as_str).collect();
        let page = source.by_ids(&ids).await.map_err(|e| e.to_string())?;
        let mut out = BufWriter::new(io::stdout().lock());
        for order in &page.orders {
            print_order(&mut out, order)?;
        }
        out.flush().map_err(|e| e.to_string())?;
        eprintln!("{} of {} orders found", page.orders.len(), ids.len());
        return Ok(());
    }
    let now = chrono::Utc::now().timestamp();
    let start = match since {
        Some(s) => parse_china_time(&s)
            .ok_or_else(|| format!("--since {s:?} is not \"YYYY-MM-DD HH:MM:SS\" (China time)"))?,
        None => now - 24 * 3600,
    };
    if start >= now {
        return Err("--since is in the future".into());
    }
    let settings = PollerSettings::new(config.poll_interval);
    let (mut count, mut ours) = (0usize, 0usize);
    // An order updated again later may show up in two windows: print it once.
    let mut printed = std::collections::HashSet::new();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    // Day-sized windows, as the poller asks for them.
    let mut from = start;
    while from < now {
        let to = (from + 24 * 3600).min(now);
        let window = Window {
            start: china_time(from),
            end: china_time(to),
        };
        let mut pager = Pager::new(&*source, &settings, &window);
        loop {
            let page = match pager.next().await.map_err(|e| e.to_string())? {
                Next::Page(p) => p,
                Next::Done => break,
                Next::TooManyPages => {
                    eprintln!(
                        "warning: {} pages in one day; output is incomplete",
                        settings.max_pages
                    );
                    break;
                }
                Next::CallCap => {
                    eprintln!(
                        "warning: {} veapi calls for one day; output is incomplete",
                        settings.max_calls
                    );
                    break;
                }
            };
            for order in page
                .orders
                .iter()
                .filter(|o| printed.insert(o.order_id.clone()))
            {
                count += 1;
                ours += usize::from(print_order(&mut out, order)?);
            }
        }
        from = to;
    }
    out.flush().map_err(|e| e.to_string())?;
    eprintln!(
        "{count} orders from {} to {}, {ours} attributed to Telegram users",
        china_time(start),
        china_time(now)
    );
    Ok(())
}
