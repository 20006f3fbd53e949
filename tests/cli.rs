//! The binary as other programs and operators use it: `detect`, `convert`, `orders`, `run`,
//! configuration errors, and what reaches its logs.

mod support;

use serde_json::Value;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::*;
use wiremock::MockServer;

const BIN: &str = env!("CARGO_BIN_EXE_douyin-link-bot");

/// Runs the binary in an empty folder (no stray `.env`) with only `env` set.
fn run(args: &[&str], env: &[(&str, String)], stdin: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir.path())
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn detect_reads_the_whole_input_as_one_message() {
    let o = run(
        &["detect"],
        &[],
        "看看 3583117383482622604\n和 v.douyin.com/Ay1Q2QU",
    );
    assert!(o.status.success());
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"refs": [
            {"kind": "product_id", "value": "3583117383482622604", "start": 7, "end": 26},
            {"kind": "short_link", "value": "https://v.douyin.com/Ay1Q2QU/", "start": 31, "end": 51}
        ]})
    );
}

#[test]
fn detect_jsonl_answers_each_line_in_order() {
    let corpus = fixture("messages.jsonl");
    let o = run(&["detect", "--jsonl"], &[], &corpus);
    assert!(o.status.success(), "{}", stderr(&o));
    let inputs: Vec<&str> = corpus.lines().filter(|l| !l.trim().is_empty()).collect();
    let outputs: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(outputs.len(), inputs.len());
    for (input, output) in inputs.iter().zip(&outputs) {
        let input: Value = serde_json::from_str(input).unwrap();
        let expected = input["expect"].as_array().unwrap();
        let refs = output["refs"].as_array().unwrap();
        assert_eq!(refs.len(), expected.len(), "{input}");
        for r in refs {
            let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, ["end", "kind", "start", "value"]);
        }
    }
}

#[test]
fn detect_jsonl_flags_a_bad_line_and_keeps_going() {
    let o = run(
        &["detect", "--jsonl"],
        &[],
        "{\"text\": \"3583117383482622604\"}\nnot json\n{\"text\": \"hi\"}\n",
    );
    assert_eq!(o.status.code(), Some(1));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["refs"].as_array().unwrap().len(), 1);
    assert!(lines[1]["error"].is_string());
    assert_eq!(lines[2]["refs"], serde_json::json!([]));
    assert!(stderr(&o).contains("line 2"));
}

#[test]
fn detect_jsonl_survives_invalid_utf8_and_crlf() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["detect", "--jsonl"])
        .current_dir(dir.path())
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = b"{\"text\": \"3583117383482622604\"}\r\n".to_vec();
    input.extend_from_slice(b"{\"text\": \"\xff\xfe\"}\n");
    input.extend_from_slice(b"{\"text\": \"v.douyin.com/Ay1Q2QU\"}\n");
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let o = child.wait_with_output().unwrap();
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{}", stderr(&o));
    assert_eq!(lines[0]["refs"][0]["kind"], "product_id");
    assert!(lines[1]["error"].is_string());
    assert_eq!(lines[2]["refs"][0]["kind"], "short_link");
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn missing_or_malformed_configuration_is_one_line_and_exit_2() {
    for (args, env, var) in [
        (
            vec!["run"],
            vec![("VEAPI_KEY", "k".to_string())],
            "TELEGRAM_BOT_TOKEN",
        ),
        (
            vec![],
            vec![("TELEGRAM_BOT_TOKEN", "1:a".to_string())],
            "VEAPI_KEY",
        ),
        (vec!["convert", "--user-id", "1", "x"], vec![], "VEAPI_KEY"),
        (vec!["orders"], vec![], "VEAPI_KEY"),
        (
            vec!["run"],
            vec![
                ("TELEGRAM_BOT_TOKEN", "1:a".to_string()),
                ("VEAPI_KEY", "k".to_string()),
                ("ADMIN_USER_IDS", "me".to_string()),
            ],
            "ADMIN_USER_IDS",
        ),
    ] {
        let o = run(&args, &env, "");
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("error: ") && err.contains(var), "{err}");
        assert!(!err.contains("panicked"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn convert_prints_json_and_never_the_key_even_at_trace() {
    let veapi = MockServer::start().await;
    share_reply(&veapi, None, json_body("veapi/share_ok.json")).await;
    let env = vec![
        ("VEAPI_KEY", VEKEY.to_string()),
        ("VEAPI_BASE_URL", veapi.uri()),
        ("RUST_LOG", "trace".to_string()),
    ];
    let o = tokio::task::spawn_blocking(move || {
        run(
            &[
                "convert",
                "--user-id",
                "1001",
                "【抖音商城】https://v.douyin.com/i2wDMRRN/ 好物",
            ],
            &env,
            "",
        )
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["external_info"], douyin_link_bot::tracking::encode(1001));
    assert_eq!(v["results"][0]["ok"], true);
    assert_eq!(v["results"][0]["kind"], "short_link");
    assert!(v["results"][0]["dy_password"]
        .as_str()
        .unwrap()
        .contains("ko4RythQX4B8"));
    assert!(
        !stderr(&o).is_empty(),
        "trace logging produced nothing to check"
    );
    assert!(!stdout(&o).contains(VEKEY) && !stderr(&o).contains(VEKEY));
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_prints_one_poll_without_touching_anything() {
    let veapi = MockServer::start().await;
    let ours = douyin_link_bot::tracking::encode(ALICE.user_id);
    orders_page(
        &veapi,
        None,
        orders_body(
            vec![
                order_json(
                    "4737996432465788974",
                    &ours,
                    "PAY_SUCC",
                    "2026-11-22 10:00:00",
                ),
                order_json(
                    "4737996432465788975",
                    "other",
                    "SETTLE",
                    "2026-11-22 10:00:00",
                ),
            ],
            "",
        ),
    )
    .await;
    let env = vec![
        ("VEAPI_KEY", VEKEY.to_string()),
        ("VEAPI_BASE_URL", veapi.uri()),
    ];
    let o = tokio::task::spawn_blocking(move || {
        run(&["orders", "--since", "2026-11-21 00:00:00"], &env, "")
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["order_id"], "4737996432465788974");
    assert_eq!(lines[0]["telegram_user_id"], ALICE.user_id);
    assert_eq!(lines[0]["total_pay_amount"], 2100);
    assert_eq!(lines[1]["telegram_user_id"], Value::Null);
    let first = &orders_calls(&veapi).await[0];
    assert_eq!(first["start_time"], "2026-11-21 00:00:00");
    assert_eq!(first["time_type"], "update");

    let by_id = tokio::task::spawn_blocking({
        let env = vec![
            ("VEAPI_KEY", VEKEY.to_string()),
            ("VEAPI_BASE_URL", veapi.uri()),
        ];
        move || run(&["orders", "--order-id", "4737996432465788974"], &env, "")
    })
    .await
    .unwrap();
    assert!(by_id.status.success(), "{}", stderr(&by_id));
    let last = orders_calls(&veapi).await.pop().unwrap();
    assert_eq!(last["order_ids"], "4737996432465788974");

    let bad = tokio::task::spawn_blocking(|| {
        run(
            &["orders", "--since", "yesterday"],
            &[("VEAPI_KEY", "k".into())],
            "",
        )
    })
    .await
    .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("--since"));
}

// SQLite only: it checks that the default store file (`data/bot.db`) is created on first run.
#[tokio::test(flavor = "multi_thread")]
async fn run_serves_until_sigterm_and_its_debug_logs_hold_no_secret() {
    let tg = FakeTelegram::start().await;
    let veapi = MockServer::start().await;
    // One product fails upstream with a 500 (a failed call), the other converts.
    share_reply(
        &veapi,
        Some("3605331890120301327"),
        wiremock::ResponseTemplate::new(500).set_body_string("upstream exploded"),
    )
    .await;
    share_reply(&veapi, None, json_body("veapi/share_ok.json")).await;
    orders_page(&veapi, None, json_body("veapi/share_auth_expired.json")).await;
    // Bob blocked the bot: a failed Telegram call.
    tg.fail_chat(BOB.chat_id, blocked());
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .env_clear()
        .env("TELEGRAM_BOT_TOKEN", BOT_TOKEN)
        .env("TELEGRAM_API_URL", tg.server.uri())
        .env("VEAPI_KEY", VEKEY)
        .env("VEAPI_BASE_URL", veapi.uri())
        .env("ADMIN_USER_IDS", "9001")
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The log is read while the bot runs: at trace level it outgrows a pipe's buffer (64 KiB),
    // and a bot whose stderr nobody reads blocks on its next log line and never stops.
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut log = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut log).unwrap();
        log
    });

    tg.push_text(&ALICE, "3583117383482622604");
    tg.push_text(&ALICE_IN_GROUP, "3605331890120301327");
    tg.push_text(&BOB, "3583117383482622604");
    tg.wait_sent(1).await;
    // Bob's reply was attempted and refused (a send to him is the only one that can fail).
    let deadline = Instant::now() + Duration::from_secs(10);
    while tg.send_attempts() < 3 {
        assert!(Instant::now() < deadline, "Bob's reply was never attempted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The failing order poll alerts the admin: a failed call has been logged too.
    tg.wait_for(1, |m| m["chat_id"] == 9001).await;
    assert!(
        dir.path().join("data/bot.db").exists(),
        "the default store is created on first run"
    );

    let started = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no graceful stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let log = reader.join().unwrap();
    let logs = String::from_utf8_lossy(&log);
    assert!(status.success(), "{logs}");
    assert!(logs.contains("shutting down"));
    assert!(
        logs.contains("GetUpdates") || logs.contains("getUpdates") || logs.contains("bot started")
    );
    // The run covered what the log must survive, dependencies included.
    assert!(logs.contains("conversion failed"), "{logs}");
    assert!(logs.contains("BotBlocked"), "{logs}");
    assert!(
        logs.contains("hyper") && logs.contains("reqwest"),
        "dependency logs missing"
    );
    assert!(!logs.contains(VEKEY), "the vekey reached the logs");
    assert!(!logs.contains(BOT_TOKEN), "the bot token reached the logs");
    assert!(
        !logs.contains("TEST-bot-token-secret"),
        "part of the bot token reached the logs"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_token_or_an_unreachable_bot_api_is_one_clear_line() {
    let tg = FakeTelegram::start().await;
    let veapi = MockServer::start().await;
    let wrong = vec![
        ("TELEGRAM_BOT_TOKEN", "999:WRONG-token-value".to_string()),
        ("TELEGRAM_API_URL", tg.server.uri()),
        ("VEAPI_KEY", VEKEY.to_string()),
        ("VEAPI_BASE_URL", veapi.uri()),
    ];
    let o = tokio::task::spawn_blocking(move || run(&["run"], &wrong, ""))
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("error: TELEGRAM_BOT_TOKEN is invalid"),
        "{err}"
    );
    assert!(!err.contains("WRONG-token-value"), "{err}");

    // Nothing listens on the port of a dropped listener.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = vec![
        ("TELEGRAM_BOT_TOKEN", BOT_TOKEN.to_string()),
        ("TELEGRAM_API_URL", format!("http://127.0.0.1:{port}")),
        ("VEAPI_KEY", VEKEY.to_string()),
        ("VEAPI_BASE_URL", veapi.uri()),
    ];
    let o = tokio::task::spawn_blocking(move || run(&["run"], &down, ""))
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.lines()
            .last()
            .unwrap()
            .starts_with("error: Telegram: cannot reach the Bot API"),
        "{err}"
    );
    assert!(!err.contains("TEST-bot-token-secret"), "{err}");
}

/// `ledger` and `payout` against a seeded store: user 1001's order settled at 15%
/// (12345 fen → 1851 fen), then paid out 5.00 with a note CSV must quote.
mod ledger_commands {
    use super::*;
    use douyin_link_bot::store::Store;

    const NOTE: &str = "bank, \"ref 7\"\nsecond line";

    fn order(state: &str, update_time: &str) -> douyin_link_bot::veapi::Order {
        serde_json::from_value(serde_json::json!({
            "order_id": "6911", "product_id": "3583117383482622604", "product_name": "猫耳酥",
            "flow_point": state, "total_pay_amount": 2100, "estimated_commission": 12345,
            "real_commission": 12345, "update_time": update_time,
            "pay_success_time": "2026-11-22 10:00:00",
            "pid_info": {"external_info": douyin_link_bot::tracking::encode(1001)}
        }))
        .unwrap()
    }

    async fn ingest(url: &str, state: &str, update_time: &str, now: i64) {
        let store = Store::open(url).await.unwrap();
        let orders = [order(state, update_time)];
        let items = douyin_link_bot::poller::to_ingest(&orders, &Default::default());
        store.ingest_page_at(&items, now, 15).await.unwrap();
        store.close().await;
    }

    async fn seed(url: &str) {
        ingest(url, "SETTLE", "2026-11-23 10:00:00", 1_795_000_000).await;
        let store = Store::open(url).await.unwrap();
        let paid = store.pay_out(1001, 500, NOTE, 9001, "seed", 1_795_000_060);
        assert_eq!(paid.await.unwrap(), Ok(1351));
        store.close().await;
    }

    fn cli(db: &TestDb, args: &[&str]) -> Output {
        run(args, &[("DATABASE_URL", db.url().to_string())], "")
    }

    fn json_lines(o: &Output) -> Vec<Value> {
        assert!(o.status.success(), "{}", stderr(o));
        let out = stdout(o);
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    on_both_backends! {
        #[tokio::test(flavor = "multi_thread")]
        async fn ledger_prints_every_line_as_json_or_csv(db) {
            seed(db.url()).await;
            let lines = json_lines(&cli(&db, &["ledger"]));
            assert_eq!(lines.len(), 2);
            let (accrual, payout) = (&lines[0], &lines[1]);
            assert_eq!(accrual["kind"], "accrual");
            assert_eq!(accrual["user_id"], 1001);
            assert_eq!(accrual["order_id"], "6911");
            assert_eq!(accrual["amount_fen"], 1851);
            assert_eq!(accrual["amount"], "18.51");
            assert_eq!(accrual["percent"], 15);
            assert_eq!(accrual["commission_fen"], 12345);
            assert_eq!(accrual["created_at"], 1_795_000_000);
            assert_eq!(accrual["created_at_china"], "2026-11-18 19:06:40");
            assert_eq!(payout["kind"], "payout");
            assert_eq!(payout["amount_fen"], -500);
            assert_eq!(payout["amount"], "-5.00");
            assert_eq!(payout["operator_id"], 9001);
            assert_eq!(payout["note"], NOTE);
            assert_eq!(json_lines(&cli(&db, &["ledger", "--user", "1001"])), lines);
            assert!(json_lines(&cli(&db, &["ledger", "--user", "1002"])).is_empty());

            let o = cli(&db, &["ledger", "--csv"]);
            assert!(o.status.success(), "{}", stderr(&o));
            let csv = stdout(&o);
            let records: Vec<&str> = csv.split("\r\n").collect();
            assert_eq!(
                records[0],
                "id,user_id,kind,order_id,amount_fen,amount,percent,commission_fen,\
                 operator_id,note,created_at,created_at_china"
            );
            assert!(records[1].ends_with(
                ",1001,accrual,6911,1851,18.51,15,12345,,,1795000000,2026-11-18 19:06:40"
            ), "{}", records[1]);
            assert!(records[2].ends_with(
                ",1001,payout,,-500,-5.00,,,9001,\"bank, \"\"ref 7\"\"\nsecond line\",\
                 1795000060,2026-11-18 19:07:40"
            ), "{}", records[2]);
            assert_eq!(records[3..], [""]);
        }
    }

    on_both_backends! {
        #[tokio::test(flavor = "multi_thread")]
        async fn payout_refuses_bad_input_and_pays_within_the_balance(db) {
            seed(db.url()).await;
            let payouts = || async {
                let store = Store::open(db.url()).await.unwrap();
                let l = store.ledger(Some(1001), None).await.unwrap();
                store.close().await;
                l.into_iter().filter(|e| e.operator_id.is_some()).collect::<Vec<_>>()
            };
            let pay = |amount: &str, user: &str| {
                cli(&db, &["payout", "--user", user, "--amount", amount, "--note", "bank"])
            };
            for bad in ["12,34", "1e3", "-5", "12.345", "¥12", "0"] {
                let o = pay(bad, "1001");
                assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
                let err = stderr(&o);
                assert!(err.contains("like 12 or 12.34"), "{bad}: {err}");
                assert!(stdout(&o).is_empty());
            }
            let o = pay("13.52", "1001");
            assert_eq!(o.status.code(), Some(1));
            assert!(
                stderr(&o).contains("13.52 is more than user 1001's available balance 13.51"),
                "{}", stderr(&o)
            );
            let o = pay("1", "4242");
            assert_eq!(o.status.code(), Some(1));
            assert!(stderr(&o).contains("user 4242 has no rebate account"), "{}", stderr(&o));
            assert_eq!(payouts().await.len(), 1, "refusals wrote nothing");

            let o = pay("12.34", "1001");
            assert!(o.status.success(), "{}", stderr(&o));
            assert_eq!(stdout(&o), "paid 12.34 to user 1001; balance now 1.17\n");
            let after = payouts().await;
            assert_eq!(after.len(), 2);
            let line = &after[1];
            assert_eq!((line.amount, line.operator_id), (-1234, Some(0)));
            assert_eq!(line.note.as_deref(), Some("bank"));
            // The user's message waits in the outbox for the running bot, once.
            let store = Store::open(db.url()).await.unwrap();
            let told: Vec<_> = store.pending_for(1001).await.unwrap().into_iter()
                .filter_map(|r| match r.event {
                    Some(e @ douyin_link_bot::events::Event::Payout { .. }) => Some(e),
                    _ => None,
                })
                .collect();
            store.close().await;
            let payout = |amount, note: &str, balance| douyin_link_bot::events::Event::Payout {
                amount, note: note.into(), balance,
            };
            assert_eq!(told, vec![payout(500, NOTE, 1351), payout(1234, "bank", 117)]);

            // A refund after the payouts leaves 1.17 − 18.51 = −17.34: owed, no payout.
            ingest(db.url(), "REFUND", "2026-11-24 10:00:00", 1_795_000_120).await;
            let o = pay("0.01", "1001");
            assert_eq!(o.status.code(), Some(1));
            assert!(
                stderr(&o).contains("user 1001's balance is negative (-17.34"),
                "{}", stderr(&o)
            );
            assert_eq!(payouts().await.len(), 2);
        }
    }

    on_both_backends! {
        /// An adjustment: signed, with a reason, one line, the user told; a debit may take
        /// the balance below 0 (never clamped).
        #[tokio::test(flavor = "multi_thread")]
        async fn adjust_writes_one_signed_line_with_its_reason(db) {
            seed(db.url()).await;
            let adjust = |amount: &str, reason: &str| {
                cli(&db, &["adjust", "--user", "1001", "--amount", amount, "--reason", reason])
            };
            for bad in ["0", "12,34", "--3", "+3"] {
                let o = adjust(bad, "fix");
                assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
            }
            assert_eq!(adjust("-1", " ").status.code(), Some(2));
            let o = adjust("-20.00", "duplicate order 6911");
            assert!(o.status.success(), "{}", stderr(&o));
            assert_eq!(stdout(&o).trim(), "adjusted user 1001 by -20.00; balance now -6.49");
            let store = Store::open(db.url()).await.unwrap();
            let lines = store.ledger(Some(1001), None).await.unwrap();
            let last = lines.last().unwrap();
            assert_eq!(last.kind, douyin_link_bot::store::LedgerKind::Adjustment);
            assert_eq!((last.amount, last.note.as_deref()), (-2000, Some("duplicate order 6911")));
            assert_eq!(store.available(1001).await.unwrap(), -649);
            let told = store.pending_for(1001).await.unwrap();
            assert!(told.iter().any(|r| matches!(
                &r.event,
                Some(douyin_link_bot::events::Event::Adjustment { amount: -2000, balance: -649, .. })
            )));
            store.close().await;
        }
    }
}
