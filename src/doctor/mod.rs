//! `doctor`: one command an operator runs after filling `.env`, before `run`.
//!
//! `run` stops at the first problem it meets, and some problems never stop it at all: an
//! expired 达人 authorization or privacy mode left on show up days later as a bot that never
//! tells anyone about orders, or that is silent in groups. The doctor tries each piece the
//! bot depends on once, the way the bot uses it (the same client, the same endpoints), and
//! prints a checklist with what to do for each failure. Its exit code is 0 only when nothing
//! failed, so a deploy script can run it before starting the bot.
//!
//! No secret is ever printed: the whole text passes through a scrubber that knows every
//! secret the environment holds, whatever the checks themselves say.

mod remote;
mod store;

use crate::config::{Config, ConfigError, Needs};
use crate::veapi::Provider;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::process::ExitCode;

/// The product the veapi check converts: the example of the provider's own link endpoint
/// page (kol_ProductShare's for kol and douke; csj_productlink's, veapi apidoc 371, for
/// csj, whose catalogue may not hold the other).
pub fn probe_product(provider: Provider) -> &'static str {
    match provider {
        Provider::Kol | Provider::Douke => "3583117383482622604",
        Provider::Csj => "3622901944550583125",
    }
}
/// The `external_info` of the doctor's conversion. Not one of the bot's values (no `dlb`
/// prefix): an order bought through the probe's 抖口令 is nobody's to notify.
pub const PROBE_EXTERNAL_INFO: &str = "doctor_probe";
/// The key the store check writes, reads back and deletes.
pub const PROBE_KEY: &str = "doctor:probe";

/// The exit code when a check failed; configuration problems exit 2 like everywhere else.
const EXIT_FAILED: u8 = 1;

/// Environment variables whose values are secrets, whatever else reads them.
const SECRET_VARS: &[&str] = &[
    "TELEGRAM_BOT_TOKEN",
    "VEAPI_KEY",
    "VEAPI_ACCESS_TOKEN",
    "VEAPI_SESSIONKEY",
    "WEBHOOK_SECRET",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    /// Worth acting on, but the bot works: does not fail the exit code.
    Warn,
    Fail,
    /// Not tried: something it needs failed first.
    Skipped,
}

impl Status {
    fn mark(self) -> char {
        match self {
            Status::Pass => '✓',
            Status::Warn => '⚠',
            Status::Fail => '✗',
            Status::Skipped => '–',
        }
    }
}

/// One line of the checklist.
#[derive(Debug, Clone)]
pub struct Check {
    pub status: Status,
    pub name: &'static str,
    pub detail: String,
    /// Lines of context under the detail.
    pub notes: Vec<String>,
    /// What to do, for a ✗ or a ⚠.
    pub advice: Option<String>,
}

impl Check {
    fn new(status: Status, name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            status,
            name,
            detail: detail.into(),
            notes: Vec::new(),
            advice: None,
        }
    }

    pub(crate) fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check::new(Status::Pass, name, detail)
    }

    pub(crate) fn warn(
        name: &'static str,
        detail: impl Into<String>,
        advice: impl Into<String>,
    ) -> Check {
        Check::new(Status::Warn, name, detail).advise(advice)
    }

    pub(crate) fn fail(
        name: &'static str,
        detail: impl Into<String>,
        advice: impl Into<String>,
    ) -> Check {
        Check::new(Status::Fail, name, detail).advise(advice)
    }

    pub(crate) fn skipped(name: &'static str, why: &str) -> Check {
        Check::new(Status::Skipped, name, format!("skipped ({why})"))
    }

    fn advise(mut self, advice: impl Into<String>) -> Check {
        self.advice = Some(advice.into());
        self
    }

    pub(crate) fn note(mut self, note: impl Into<String>) -> Check {
        self.notes.push(note.into());
        self
    }
}

/// Every line, in the order the checks run.
#[derive(Debug, Clone)]
pub struct Report {
    pub checks: Vec<Check>,
}

/// The checks after the configuration, by name, for the lines shown when it failed.
const LATER_CHECKS: &[&str] = &[
    remote::TOKEN,
    remote::GROUPS,
    remote::INLINE,
    remote::UPDATES,
    remote::KEY,
    remote::ORDERS,
    store::STORE,
];

const CONFIGURATION: &str = "Configuration";
const OPERATORS: &str = "Operators";

impl Report {
    /// 0 when nothing failed; 2 when the configuration could not be read (as for every
    /// command); 1 when a check failed.
    pub fn exit_code(&self) -> u8 {
        let failed = |name| {
            self.checks
                .iter()
                .any(|c| c.name == name && c.status == Status::Fail)
        };
        if failed(CONFIGURATION) {
            crate::cli::EXIT_CONFIG
        } else if self.checks.iter().any(|c| c.status == Status::Fail) {
            EXIT_FAILED
        } else {
            0
        }
    }

    pub fn render(&self) -> String {
        let mut out = format!("douyin-link-bot {} doctor\n\n", env!("CARGO_PKG_VERSION"));
        for c in &self.checks {
            let _ = writeln!(out, "{} {:<15} {}", c.status.mark(), c.name, c.detail);
            for n in &c.notes {
                let _ = writeln!(out, "    {n}");
            }
            if let Some(a) = &c.advice {
                let _ = writeln!(out, "    → {a}");
            }
        }
        let count = |s| self.checks.iter().filter(|c| c.status == s).count();
        let (failed, warned) = (count(Status::Fail), count(Status::Warn));
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        out.push('\n');
        out.push_str(&match (failed, warned) {
            (0, 0) => "All checks passed.".to_string(),
            (0, w) => format!(
                "No check failed ({}); the bot can run.",
                plural(w, "warning", "warnings")
            ),
            (f, _) => format!(
                "{} failed: fix the ✗ lines and run `douyin-link-bot doctor` again.",
                plural(f, "check", "checks")
            ),
        });
        out.push('\n');
        out
    }
}

/// `douyin-link-bot doctor` (`.env` already read by the caller).
pub fn main() -> ExitCode {
    let get = |k: &str| std::env::var(k).ok();
    let secrets = secrets(get);
    let report = match Config::from_env(NEEDS) {
        Err(_) => configuration_failed(&config_errors(get)),
        Ok(config) => {
            if std::env::var_os("RUST_LOG").is_some() {
                crate::logging::init(secrets.clone());
            }
            match crate::cli::runtime() {
                Ok(rt) => rt.block_on(run(&config)),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    print!("{}", scrub(&report.render(), &secrets));
    ExitCode::from(report.exit_code())
}

/// The doctor checks everything `run` needs.
const NEEDS: Needs = Needs {
    telegram: true,
    veapi: true,
};

/// Runs every check on a configuration that was read; the remote ones run concurrently and
/// are listed in a fixed order.
pub async fn run(config: &Config) -> Report {
    let mut checks = vec![configuration(config)];
    if config.admin_user_ids.is_empty() {
        checks.push(Check::warn(
            OPERATORS,
            "ADMIN_USER_IDS is empty: nobody is told when the authorization lapses or the key runs out",
            "put your numeric Telegram user id in ADMIN_USER_IDS (comma-separated for several)",
        ));
    } else {
        checks.push(Check::pass(
            OPERATORS,
            format!(
                "{} operator(s) in ADMIN_USER_IDS hear about upstream problems",
                config.admin_user_ids.len()
            ),
        ));
    }
    let (telegram, veapi, store) = tokio::join!(
        remote::telegram(config),
        remote::veapi(config),
        store::check(config)
    );
    checks.extend(telegram);
    checks.extend(veapi);
    checks.push(store);
    Report { checks }
}

fn configuration(config: &Config) -> Check {
    let mode = match &config.webhook {
        Some(_) => "webhook mode (WEBHOOK_URL)",
        None => "long polling",
    };
    let mut check = Check::pass(CONFIGURATION, format!("every variable read; {mode}"));
    if let Some(v) = &config.veapi {
        check = check
            .note(format!(
                "VEAPI_PROVIDER={} ({}): links from {}, orders from {}",
                v.provider,
                provider_label(v.provider),
                v.provider.share_endpoint(),
                v.provider.orders_endpoint()
            ))
            .note(format!(
                "needs in veapi's member centre (会员中心): {}",
                provider_needs(v.provider)
            ));
        let ignored = crate::veapi::ignored_variables(v, v.provider);
        if !ignored.is_empty() {
            check.status = Status::Warn;
            check = check.advise(format!(
                "{} set, but {}'s endpoints do not take them: they are not sent and the vekey's default account is used; unset them or choose the provider they belong to",
                ignored.join(", "),
                v.provider
            ));
        }
    }
    check
}

pub(crate) fn provider_label(p: Provider) -> &'static str {
    match p {
        Provider::Kol => "达人",
        Provider::Douke => "抖客",
        Provider::Csj => "穿山甲",
    }
}

fn provider_needs(p: Provider) -> &'static str {
    match p {
        Provider::Kol => {
            "the 达人 account authorized for kol_ProductShare and alliance_kol_orders (the authorization lasts 15 days)"
        }
        Provider::Douke => "the 抖客 account authorized for kol_ProductShare and douke_OrderAds",
        Provider::Csj => {
            "the 穿山甲 endpoints (csj_productlink, csj_ordersearch) on your vekey; commissions are settled in the member centre, tracking lasts 15 days (不锁佣)"
        }
    }
}

/// Every configuration problem, not only the first: each variable found at fault is
/// treated as unset and the configuration read again, until it reads or a variable cannot
/// be left unset (a required one is then reported once).
pub fn config_errors(get: impl Fn(&str) -> Option<String>) -> Vec<ConfigError> {
    let mut hidden: HashSet<&'static str> = HashSet::new();
    let mut errors = Vec::new();
    loop {
        let needs = Needs {
            telegram: !hidden.contains("TELEGRAM_BOT_TOKEN"),
            veapi: !hidden.contains("VEAPI_KEY"),
        };
        let e = match Config::from_lookup(|k| if hidden.contains(k) { None } else { get(k) }, needs)
        {
            Ok(_) => break,
            Err(e) => e,
        };
        let var = e.var();
        // Unsetting it made it missing (WEBHOOK_SECRET without its WEBHOOK_URL): done.
        if !hidden.insert(var) || errors.len() > 32 {
            break;
        }
        if var == "WEBHOOK_SECRET" {
            hidden.insert("WEBHOOK_URL");
        }
        errors.push(e);
    }
    errors
}

fn configuration_failed(errors: &[ConfigError]) -> Report {
    let n = errors.len().max(1);
    let mut check = Check::fail(
        CONFIGURATION,
        if n == 1 {
            "1 variable needs fixing".to_string()
        } else {
            format!("{n} variables need fixing")
        },
        "fix them in .env (see .env.example), then run `douyin-link-bot doctor` again",
    );
    for e in errors {
        check = check.note(e.to_string());
    }
    let mut checks = vec![check];
    checks.extend(
        LATER_CHECKS
            .iter()
            .map(|name| Check::skipped(name, "needs a valid configuration")),
    );
    Report { checks }
}

/// The secrets in the environment: the secret variables' values, and the password in
/// `DATABASE_URL` (in its user part or a `password`/`sslpassword` parameter).
fn secrets(get: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let mut out: Vec<String> = SECRET_VARS
        .iter()
        .filter_map(|k| get(k))
        .map(|v| v.trim().to_string())
        .collect();
    if let Some(db) = get("DATABASE_URL") {
        if let Ok(u) = url::Url::parse(db.trim()) {
            if let Some(p) = u.password() {
                out.push(p.to_string());
                out.push(crate::detect::percent_decode(p));
            }
            out.extend(
                u.query_pairs()
                    .filter(|(k, _)| {
                        k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("sslpassword")
                    })
                    .map(|(_, v)| v.into_owned()),
            );
        }
    }
    out
}

/// `text` with every secret (as it is, and form-encoded) replaced by `***`. Secrets shorter
/// than 4 characters are left: masking them would mangle ordinary words.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut forms: Vec<String> = secrets
        .iter()
        .filter(|s| s.chars().count() >= 4)
        .flat_map(|s| {
            let encoded: String = url::form_urlencoded::byte_serialize(s.as_bytes()).collect();
            [s.clone(), encoded]
        })
        .collect();
    // Longest first, so a secret containing another is masked whole.
    forms.sort_by_key(|s| std::cmp::Reverse(s.len()));
    forms.dedup();
    let mut out = text.to_string();
    for s in &forms {
        out = out.replace(s.as_str(), "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn every_bad_variable_is_named_not_only_the_first() {
        let errors = config_errors(lookup(&[
            ("TELEGRAM_BOT_TOKEN", "1:abc"),
            ("VEAPI_KEY", "k"),
            ("VEAPI_PROVIDER", "pangle"),
            ("ORDER_POLL_INTERVAL_SECS", "soon"),
            ("ADMIN_USER_IDS", "me"),
        ]));
        let vars: Vec<&str> = errors.iter().map(ConfigError::var).collect();
        assert_eq!(
            vars,
            [
                "VEAPI_PROVIDER",
                "ORDER_POLL_INTERVAL_SECS",
                "ADMIN_USER_IDS"
            ]
        );
    }

    #[test]
    fn missing_credentials_are_each_named_once() {
        let errors = config_errors(lookup(&[("WEBHOOK_URL", "https://b.example/h")]));
        let vars: Vec<&str> = errors.iter().map(ConfigError::var).collect();
        assert_eq!(vars, ["TELEGRAM_BOT_TOKEN", "VEAPI_KEY", "WEBHOOK_SECRET"]);
        assert!(
            config_errors(lookup(&[("TELEGRAM_BOT_TOKEN", "1:a"), ("VEAPI_KEY", "k")])).is_empty()
        );
    }

    #[test]
    fn a_failed_configuration_skips_the_rest_and_exits_2() {
        let r = configuration_failed(&config_errors(lookup(&[])));
        assert_eq!(r.exit_code(), 2);
        assert!(r.checks[1..].iter().all(|c| c.status == Status::Skipped));
        let text = r.render();
        assert!(text.contains("TELEGRAM_BOT_TOKEN is not set"), "{text}");
    }

    #[test]
    fn warnings_do_not_fail_the_exit_code() {
        let r = Report {
            checks: vec![Check::pass("A", "fine"), Check::warn("B", "meh", "do this")],
        };
        assert_eq!(r.exit_code(), 0);
        assert!(r.render().contains("    → do this"));
        let r = Report {
            checks: vec![Check::fail("C", "broken", "fix it")],
        };
        assert_eq!(r.exit_code(), 1);
    }

    #[test]
    fn the_scrubber_masks_every_secret_in_every_form() {
        let get = lookup(&[
            ("TELEGRAM_BOT_TOKEN", "123:tok-en_SECRET"),
            ("VEAPI_KEY", " vekey-SECRET "),
            (
                "DATABASE_URL",
                "postgres://bot:p%40ss-SECRET@db/bot?sslpassword=ssl-SECRET",
            ),
        ]);
        let s = secrets(get);
        let text = "t 123:tok-en_SECRET / 123%3Atok-en_SECRET k vekey-SECRET db p%40ss-SECRET p@ss-SECRET ssl-SECRET";
        let out = scrub(text, &s);
        assert!(!out.contains("SECRET"), "{out}");
        assert_eq!(
            scrub("a short one: ab", &["ab".to_string()]),
            "a short one: ab"
        );
    }
}
