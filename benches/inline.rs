//! Inline query latency: `cargo bench --bench inline`.
//!
//! The release binary runs as its own process against loopback fakes of Telegram and veapi
//! living in this process (as in `benches/e2e.rs`). Each query is a pasted share text (its
//! short link followed by the share's words, so converted at once, no quiet wait), from a
//! person of its own, one at a time. Measured: from the moment the fake Bot API hands the
//! `inline_query` update out (getUpdates) to the moment answerInlineQuery arrives at it,
//! minus the veapi latency. Target (issue 12): within one upstream call + 20 ms.
//! Knobs: `INLINE_QUERIES` (50), `INLINE_LATENCY_MS` (100), `INLINE_BOT_LOG` (`warn`).

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const BIN: &str = env!("CARGO_BIN_EXE_douyin-link-bot");

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct SlowShare {
    latency: Duration,
    body: String,
}

impl Respond for SlowShare {
    fn respond(&self, _req: &Request) -> ResponseTemplate {
        ResponseTemplate::new(200)
            .set_body_raw(self.body.clone(), "application/json")
            .set_delay(self.latency)
    }
}

fn spawn(dir: &Path, tg: &FakeTelegram, veapi: &MockServer) -> Child {
    Command::new(BIN)
        .current_dir(dir)
        .env_clear()
        .env("TELEGRAM_BOT_TOKEN", BOT_TOKEN)
        .env("TELEGRAM_API_URL", tg.server.uri())
        .env("VEAPI_KEY", VEKEY)
        .env("VEAPI_BASE_URL", veapi.uri())
        .env(
            "RUST_LOG",
            std::env::var("INLINE_BOT_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Answer − delivery for `n` queries, one at a time; `text(i)` is the i-th query, from
/// person `user(i)`.
async fn measure(
    tg: &FakeTelegram,
    n: u64,
    user: impl Fn(u64) -> u64,
    text: impl Fn(u64) -> String,
) -> Vec<f64> {
    let mut took = Vec::new();
    for i in 0..n {
        let from = Sender {
            user_id: user(i),
            chat_id: user(i) as i64,
        };
        let id = tg.push_inline(&from, &text(i));
        let answer = tg.wait_answer(&id).await;
        assert_eq!(answer.refused, None, "{answer:#?}");
        assert_eq!(answer.results().len(), 1, "{answer:#?}");
        assert!(answer.texts()[0].starts_with("<code>"), "{answer:#?}");
        let delivered = tg.inline_delivered_at(&id).expect("delivered");
        took.push(ms(answer.at.duration_since(delivered)));
    }
    took.sort_by(f64::total_cmp);
    took
}

fn report(what: &str, sorted: &[f64], minus: f64) {
    let over: Vec<f64> = sorted.iter().map(|t| t - minus).collect();
    println!(
        "{what}: {} queries; answer − delivery: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; minus upstream ({minus:.0} ms): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        sorted.len(),
        percentile(sorted, 0.5),
        percentile(sorted, 0.99),
        sorted[sorted.len() - 1],
        percentile(&over, 0.5),
        percentile(&over, 0.99),
        over[over.len() - 1],
    );
}

fn share(i: u64) -> String {
    format!(
        "9.28 reo:/ 【抖音商城】https://v.douyin.com/iBn{i:05}/ 猫耳酥 长按复制此条消息，打开抖音搜索，查看商品详情！"
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = knob("INLINE_QUERIES", 50);
    let latency = Duration::from_millis(knob("INLINE_LATENCY_MS", 100));
    let tg = FakeTelegram::start().await;
    tg.set_me(serde_json::json!({"supports_inline_queries": true}));
    let veapi = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/douke/kol_ProductShare"))
        .respond_with(SlowShare {
            latency,
            body: fixture("veapi/share_ok.json"),
        })
        .mount(&veapi)
        .await;
    orders_page(&veapi, None, orders_body(vec![], "")).await;
    let dir = tempfile::tempdir().unwrap();
    let child = spawn(dir.path(), &tg, &veapi);
    let deadline = Instant::now() + Duration::from_secs(30);
    while tg.first_get_updates().is_none() {
        assert!(Instant::now() < deadline, "the bot never polled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Warm-up: connections to both fakes opened, the store's first write done.
    let _ = measure(&tg, 3, |i| 900_000 + i, |i| share(90_000 + i)).await;

    let fresh = measure(&tg, n, |i| 1_000 + i, share).await;
    report("inline, converted (one upstream call)", &fresh, ms(latency));
    // The same people asking again: the store's cache answers, no upstream call.
    let cached = measure(&tg, n, |i| 1_000 + i, |i| format!("{} 冲", share(i))).await;
    report(
        "inline, asked again (converted before: no upstream call)",
        &cached,
        0.0,
    );
    stop(child);

    let p99_over = percentile(&fresh, 0.99) - ms(latency);
    println!(
        "target: answered within one upstream call + 20 ms: {}",
        if p99_over <= 20.0 {
            "met (p99)"
        } else {
            "NOT met (p99)"
        }
    );
}
