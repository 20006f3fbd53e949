//! Who this process is, among the instances sharing one database: the name its outbox
//! claims and leases carry, so a claim is settled only by its owner and a lease renewed
//! only by its holder; and how many instances are alive, so each keeps to its share of
//! Telegram's overall sending limit (which is the bot's, not an instance's).

use crate::store::Store;
use once_cell::sync::Lazy;
use std::time::Duration;
use tokio::sync::watch;

/// Each instance's presence is a lease named with this prefix and its id.
const PRESENCE: &str = "instance:";
/// A presence lapses this long after its instance's last renewal...
const PRESENCE_LENGTH: i64 = 5;
/// ... which comes this often: a new instance is counted by the others within a second.
const PRESENCE_EVERY: Duration = Duration::from_secs(1);

static ID: Lazy<String> = Lazy::new(|| {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "host".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    // The pid tells processes on one host apart, the time a restarted process that got
    // its predecessor's pid (in a container every first process is pid 1).
    format!("{host}:{}:{nanos:08x}", std::process::id())
});

/// This process's name, the same for its whole life.
pub fn id() -> &'static str {
    &ID
}

/// Keeps this instance's presence in the store until shutdown, and reports how many
/// instances are alive (itself included) to `alive` after each renewal. The presence is
/// removed at shutdown, so the others take over its share at once.
pub fn spawn_presence(
    store: Store,
    alive: impl Fn(usize) + Send + 'static,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let name = format!("{PRESENCE}{}", id());
    tokio::spawn(async move {
        let mut last = 0;
        loop {
            let counted = async {
                let now = store.clock().await?;
                store
                    .lease_acquire(&name, id(), now, now + PRESENCE_LENGTH)
                    .await?;
                store.leases_held(PRESENCE, now).await
            };
            match counted.await {
                Ok(n) => {
                    let n = n.max(1) as usize;
                    if n != last {
                        tracing::info!(instances = n, "instances sharing the bot");
                        last = n;
                    }
                    alive(n);
                }
                Err(e) => tracing::warn!(error = %e, "cannot count the instances"),
            }
            tokio::select! {
                _ = tokio::time::sleep(PRESENCE_EVERY) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                break;
            }
        }
        if let Err(e) = store.lease_release(&name, id()).await {
            tracing::warn!(error = %e, "could not remove this instance's presence; it lapses");
        }
    })
}
