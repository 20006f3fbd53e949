//! One instance at a time: the order poller runs only where its lease is held.
//!
//! The lease is a row in the store ([`Store::lease_acquire`]) with an expiry. The holder
//! renews it every quarter of its length; the others try to take it as often, so when the
//! holder dies (no renewal) another instance holds it within a lease length and a quarter,
//! and the poller goes on from the watermark in the store. The lease is half a poll
//! interval long (at least 3 s): the takeover happens within one poll interval.
//!
//! Times are the database's clock, so instances whose clocks disagree agree on who holds
//! the lease. A holder that cannot reach the store (or gets no answer within a quarter of the
//! lease) stops polling at once rather than at its lease's expiry: two pollers for a moment would only read orders twice (stored idempotently),
//! but there is no reason to risk it.

use crate::store::Store;
use std::time::Duration;
use tokio::sync::watch;

/// The name of the order poller's lease.
pub const POLLER: &str = "order_poller";

/// Keeps trying to hold a lease until shutdown; tells whether it is held. Clones watch the
/// same lease.
#[derive(Clone)]
pub struct Lease {
    held: watch::Receiver<bool>,
    /// The sender of a lease that never changes ([`Lease::always`]).
    _fixed: Option<std::sync::Arc<watch::Sender<bool>>>,
}

impl Lease {
    /// Starts competing for lease `name` as `holder`, `length` long. At shutdown the lease
    /// is released (another instance takes over at once) and the task ends.
    pub fn spawn(
        store: Store,
        name: &'static str,
        holder: String,
        length: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) -> (Lease, tokio::task::JoinHandle<()>) {
        let (tx, rx) = watch::channel(false);
        // Whole seconds of the database's clock: at least 3.
        let secs = length.as_secs().max(3) as i64;
        // Renewed four times a lease: a floored clock makes a lease last between secs - 1
        // and secs, and the holder gives up after one renewal that failed or took longer
        // than this, well before the lease lapses for the others.
        let every = Duration::from_millis((secs as u64 * 1000) / 4);
        let task = tokio::spawn(async move {
            loop {
                // Timed by the database's clock (instances' clocks may disagree), and given
                // up on after a quarter of the lease: a renewal that hangs must not leave this
                // instance polling past its lease while another takes it.
                let renewal = async {
                    let now = store.clock().await?;
                    store.lease_acquire(name, &holder, now, now + secs).await
                };
                let held = match tokio::time::timeout(every, renewal).await {
                    Ok(Ok(held)) => held,
                    Ok(Err(e)) => {
                        tracing::warn!(lease = name, error = %e, "cannot reach the store for the lease");
                        false
                    }
                    Err(_) => {
                        tracing::warn!(
                            lease = name,
                            "the store did not answer in time for the lease"
                        );
                        false
                    }
                };
                if held != *tx.borrow() {
                    if held {
                        tracing::info!(lease = name, holder, "lease taken: this instance runs it");
                    } else {
                        tracing::warn!(
                            lease = name,
                            holder,
                            "lease lost: another instance runs it"
                        );
                    }
                    let _ = tx.send(held);
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = shutdown.changed() => break,
                }
                if *shutdown.borrow() {
                    break;
                }
            }
            if *tx.borrow() {
                let _ = tx.send(false);
                match store.lease_release(name, &holder).await {
                    Ok(()) => tracing::info!(lease = name, "lease released"),
                    Err(e) => {
                        tracing::warn!(lease = name, error = %e, "could not release the lease; it lapses")
                    }
                }
            }
        });
        (
            Lease {
                held: rx,
                _fixed: None,
            },
            task,
        )
    }

    /// A lease always held: one instance by itself, or tests.
    pub fn always() -> Lease {
        let (tx, rx) = watch::channel(true);
        Lease {
            held: rx,
            _fixed: Some(std::sync::Arc::new(tx)),
        }
    }

    pub fn is_held(&self) -> bool {
        *self.held.borrow()
    }

    /// Resolves when the lease becomes held.
    pub async fn acquired(&mut self) {
        let _ = self.held.wait_for(|h| *h).await;
    }

    /// Resolves when the lease stops being held.
    pub async fn lost(&mut self) {
        let _ = self.held.wait_for(|h| !*h).await;
    }
}
