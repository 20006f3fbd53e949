//! The doctor's store check: the database opens as `run` opens it (migrations applied) and
//! takes a write, a read and a delete.

use super::{Check, PROBE_KEY};
use crate::config::Config;
use crate::store::{redact_url, Engine, Store};

pub(super) const STORE: &str = "Store";

/// Opens the store as `run` does (migrations applied), then writes, reads back and deletes
/// [`PROBE_KEY`].
pub(super) async fn check(config: &Config) -> Check {
    let shown = redact_url(&config.database_url);
    let postgres = crate::store::is_postgres_url(&config.database_url);
    const PG_ADVICE: &str =
        "check DATABASE_URL's host, user and password, and that the database exists (createdb)";
    // The pool reports an unreachable server only as a timeout, after 10 s: say it plainly.
    if let Some(addr) = postgres.then(|| pg_address(&config.database_url)).flatten() {
        if let Err(reason) = reachable(&addr).await {
            return Check::fail(
                STORE,
                format!("cannot connect to PostgreSQL at {addr}: {reason}"),
                PG_ADVICE,
            );
        }
    }
    let store = match Store::open(&config.database_url).await {
        Ok(s) => s,
        Err(e) => {
            let advice = if postgres {
                PG_ADVICE
            } else {
                "check that DATABASE_URL's folder exists or can be created, and that the bot's user may write there"
            };
            return Check::fail(STORE, e.to_string(), advice);
        }
    };
    let engine = match store.engine() {
        Engine::Sqlite => "sqlite",
        Engine::Postgres => "postgres",
    };
    let now = chrono::Utc::now().timestamp();
    let value = format!("written at {now}");
    let probe = async {
        store.kv_set(PROBE_KEY, &value, now).await?;
        let read = store.kv_get(PROBE_KEY).await?;
        store.kv_delete(PROBE_KEY).await?;
        Ok::<_, crate::store::StoreError>(read)
    }
    .await;
    store.close().await;
    match probe {
        Ok(Some(v)) if v == value => Check::pass(
            STORE,
            format!("{engine} at {shown}: migrations applied, write, read and delete work"),
        ),
        Ok(_) => Check::fail(
            STORE,
            format!("{engine} at {shown}: a value written was not read back"),
            "another program may be rewriting the store; give the bot a database of its own",
        ),
        Err(e) => Check::fail(
            STORE,
            format!("{engine} at {shown} opened but is not writable: {e}"),
            if postgres {
                "grant the user INSERT, UPDATE and DELETE on the bot's tables"
            } else {
                "check that the database file and its folder are writable by the bot's user"
            },
        ),
    }
}

/// `host:port` of a PostgreSQL URL naming one TCP host (not a socket folder, not a list).
fn pg_address(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let host = u.host_str().filter(|h| !h.is_empty() && !h.contains(','))?;
    if u.query_pairs().any(|(k, _)| k == "host" || k == "hostaddr") {
        return None;
    }
    Some(format!("{host}:{}", u.port().unwrap_or(5432)))
}

/// Whether a TCP connection to `addr` opens within the connect timeout veapi calls use.
async fn reachable(addr: &str) -> Result<(), String> {
    match tokio::time::timeout(
        crate::veapi::CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect(addr),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_address_is_its_one_tcp_host() {
        assert_eq!(
            pg_address("postgres://u:p@db.internal/bot").as_deref(),
            Some("db.internal:5432")
        );
        assert_eq!(
            pg_address("postgresql://u@10.0.0.5:6432/bot?sslmode=require").as_deref(),
            Some("10.0.0.5:6432")
        );
        assert_eq!(pg_address("postgres:///bot?host=/var/run/postgresql"), None);
        assert_eq!(pg_address("postgres://u@h1,h2/bot"), None);
    }
}
