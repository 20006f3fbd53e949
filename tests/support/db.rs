//! Test databases: a SQLite file in a fresh folder, or a fresh PostgreSQL schema on
//! `TEST_DATABASE_URL` (dropped afterwards), so the same test runs on both backends
//! ([`on_both_backends!`](crate::on_both_backends)).
//!
//! Without `TEST_DATABASE_URL` the PostgreSQL variants pass without running and the test
//! binary says so on one line. With it set, an unreachable server fails them: CI sets it
//! (`.ci/run`), so CI never skips them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

pub struct TestDb {
    url: String,
    /// The SQLite file's folder, removed on drop.
    dir: Option<tempfile::TempDir>,
    /// The PostgreSQL server and schema, dropped on drop.
    schema: Option<(String, String)>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("bot.db").display());
        TestDb {
            url,
            dir: Some(dir),
            schema: None,
        }
    }

    /// A fresh schema on `TEST_DATABASE_URL`, or None when it is unset.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(server) = std::env::var("TEST_DATABASE_URL") else {
            static SAID: Once = Once::new();
            SAID.call_once(|| {
                // Once per `cargo test` (every test binary is cargo's child): the first
                // binary to get here creates the marker and says it.
                let marker = std::env::temp_dir().join(format!(
                    "dlb-pg-not-run-{}",
                    std::os::unix::process::parent_id()
                ));
                if std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&marker)
                    .is_ok()
                {
                    // Straight to stderr: the test harness captures `eprintln!`.
                    let _ = writeln!(
                        std::io::stderr(),
                        "note: PostgreSQL tests not run (TEST_DATABASE_URL is unset)"
                    );
                }
            });
            return None;
        };
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let schema = format!(
            "t_{}_{}_{nanos}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        run_sql(&server, &format!("CREATE SCHEMA {schema}")).await;
        let mut url = url::Url::parse(&server).expect("TEST_DATABASE_URL is a URL");
        // The schema's name doubles as its connections' application name, so the drop can
        // find the ones a test left open.
        url.query_pairs_mut()
            .append_pair("options", &format!("-c search_path={schema}"))
            .append_pair("application_name", &schema);
        Some(TestDb {
            url: url.to_string(),
            dir: None,
            schema: Some((server, schema)),
        })
    }

    /// Another fresh database of the same backend (a test that starts several bots in turn).
    pub async fn fresh(&self) -> TestDb {
        if self.is_postgres() {
            TestDb::postgres()
                .await
                .expect("TEST_DATABASE_URL was set a moment ago")
        } else {
            TestDb::sqlite()
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn is_postgres(&self) -> bool {
        self.schema.is_some()
    }

    /// The SQLite file's folder (None on PostgreSQL).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(|d| d.path())
    }

    /// The SQLite file (None on PostgreSQL).
    pub fn file(&self) -> Option<PathBuf> {
        self.dir().map(|d| d.join("bot.db"))
    }
}

async fn run_sql(server: &str, sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(server)
        .await
        .unwrap_or_else(|e| panic!("TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}"));
    sqlx::query(sql).execute(&mut conn).await.expect(sql);
    let _ = conn.close().await;
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((server, schema)) = self.schema.take() {
            // Drop runs inside the test's runtime: the schema is dropped from a thread
            // with its own. That runtime is blocked meanwhile, so a task the test aborted
            // may still sit inside a transaction on this schema (its cancellation waits for
            // the runtime): DROP SCHEMA would wait for its locks forever. The test is over,
            // so its connections are ended first.
            let _ = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(async {
                        run_sql(
                            &server,
                            &format!(
                                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                                 WHERE application_name = '{schema}' AND pid <> pg_backend_pid()"
                            ),
                        )
                        .await;
                        run_sql(&server, &format!("DROP SCHEMA {schema} CASCADE")).await;
                    });
            })
            .join();
        }
    }
}

/// Where a test's bot keeps its store: a SQLite file path, or a [`TestDb`].
pub trait DbUrl {
    fn db_url(&self) -> String;
}

impl DbUrl for &Path {
    fn db_url(&self) -> String {
        format!("sqlite://{}", self.display())
    }
}

impl DbUrl for &PathBuf {
    fn db_url(&self) -> String {
        format!("sqlite://{}", self.display())
    }
}

impl DbUrl for &TestDb {
    fn db_url(&self) -> String {
        self.url.clone()
    }
}

/// Declares a test that runs twice, `<name>::sqlite` and `<name>::postgres`, with `$db` a
/// fresh [`TestDb`] of each backend (the PostgreSQL run passes without running when
/// `TEST_DATABASE_URL` is unset).
#[macro_export]
macro_rules! on_both_backends {
    ($(#[$attr:meta])* async fn $name:ident($db:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($db: $crate::support::db::TestDb) $body
            $(#[$attr])*
            async fn sqlite() {
                run($crate::support::db::TestDb::sqlite()).await
            }
            $(#[$attr])*
            async fn postgres() {
                if let Some(db) = $crate::support::db::TestDb::postgres().await {
                    run(db).await
                }
            }
        }
    };
}
