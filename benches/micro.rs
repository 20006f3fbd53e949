//! Micro benchmarks of the bot's own work per message and per orders page:
//! `cargo bench --bench micro`.

#[path = "../tests/support/mod.rs"]
mod support;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use douyin_link_bot::detect::detect;
use douyin_link_bot::poller::to_ingest;
use douyin_link_bot::store::Store;
use douyin_link_bot::tracking;
use douyin_link_bot::veapi::parse_orders;
use serde_json::{json, Value};
use std::hint::black_box;

/// Every labelled real message of the fixtures.
fn corpus() -> Vec<String> {
    ["messages.jsonl", "messages_extra.jsonl"]
        .iter()
        .flat_map(|f| {
            support::fixture(f)
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    let v: Value = serde_json::from_str(l).unwrap();
                    v["text"].as_str().unwrap().to_string()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A reply of alliance_kol_orders with 20 orders, as bytes off the wire. `base` makes the
/// order ids distinct between pages.
fn page_bytes(base: u64) -> Vec<u8> {
    let info = tracking::encode(1001);
    let orders: Vec<Value> = (0..20)
        .map(|i| {
            let state = ["PAY_SUCC", "SETTLE", "REFUND", "CONFIRM"][i as usize % 4];
            support::order_json(
                &(4_737_996_432_465_000_000 + base + i).to_string(),
                if i % 5 == 4 { "someone_else" } else { &info },
                state,
                "2026-11-22 10:00:00",
            )
        })
        .collect();
    serde_json::to_vec(&json!({
        "error": "0", "msg": "查询成功!", "data": {"orders": orders, "cursor": "20"}, "request_id": "r"
    }))
    .unwrap()
}

fn detector(c: &mut Criterion) {
    let messages = corpus();
    let mut g = c.benchmark_group("detect");
    g.throughput(Throughput::Elements(messages.len() as u64));
    g.bench_function("corpus", |b| {
        b.iter(|| {
            for m in &messages {
                black_box(detect(black_box(m)));
            }
        })
    });
    g.finish();
}

fn codec(c: &mut Criterion) {
    c.bench_function("tracking/encode+decode", |b| {
        b.iter(|| {
            let v = tracking::encode(black_box(7_123_456_789));
            black_box(tracking::decode(&v).unwrap())
        })
    });
}

fn orders_page(c: &mut Criterion) {
    let bytes = page_bytes(0);
    let mut g = c.benchmark_group("orders_page");
    g.throughput(Throughput::Elements(20));
    g.bench_function("parse 20 orders", |b| {
        b.iter(|| {
            let v: Value = serde_json::from_slice(black_box(&bytes)).unwrap();
            let page = parse_orders(v).unwrap();
            black_box(to_ingest(&page.orders, &Default::default()).len())
        })
    });

    // Storing a page: one transaction with 20 upserts, their events and outbox rows, into a
    // file-backed SQLite store in WAL mode as the bot runs it.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = rt
        .block_on(Store::open(&format!(
            "sqlite://{}",
            dir.path().join("bench.db").display()
        )))
        .unwrap();
    let mut base = 0u64;
    g.bench_function("store 20 new orders", |b| {
        b.to_async(&rt).iter_batched(
            || {
                base += 20;
                parse_orders(serde_json::from_slice(&page_bytes(base)).unwrap()).unwrap()
            },
            |page| {
                let store = store.clone();
                async move {
                    let items = to_ingest(&page.orders, &Default::default());
                    black_box(store.ingest_page(&items, 1_700_000_000).await.unwrap())
                }
            },
            BatchSize::SmallInput,
        )
    });
    let seen = parse_orders(serde_json::from_slice(&page_bytes(20)).unwrap()).unwrap();
    g.bench_function("store 20 orders seen before", |b| {
        b.to_async(&rt).iter(|| async {
            let items = to_ingest(&seen.orders, &Default::default());
            black_box(store.ingest_page(&items, 1_700_000_000).await.unwrap())
        })
    });
    g.finish();
}

criterion_group!(benches, detector, codec, orders_page);
criterion_main!(benches);
