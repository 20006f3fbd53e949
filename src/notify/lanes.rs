//! The notifier's loop: users served side by side, each user's messages one at a time.
//!
//! Up to [`NotifierSettings::lanes`] deliveries run at once, one per user: the store hands
//! out only each user's earliest undelivered message, claimed for this instance
//! ([`Store::claim_due`]: other instances on the same database skip it), and a user with a
//! message in flight gets no second one, so a user's messages keep their order while
//! a slow chat (a 5xx teloxide waits 10 s on, a group at its 20 a minute, a chat held back by
//! a 429) holds up no one else. At shutdown no new send starts, and the ones already on
//! their way are awaited and marked, for at most [`NotifierSettings::shutdown_grace`].
//!
//! [`NotifierSettings::lanes`]: super::NotifierSettings::lanes
//! [`NotifierSettings::shutdown_grace`]: super::NotifierSettings::shutdown_grace

use super::{Notifier, Patience};
use crate::store::{OutboxRow, Store, StoreError};
use chrono::Utc;
use futures::StreamExt;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::{Id, JoinSet};

/// Rows read at a time by [`Notifier::drain_once`].
const DRAIN_BATCH: i64 = 200;

/// Deliveries in flight, and whose.
struct Lanes {
    tasks: JoinSet<()>,
    /// Whose delivery each task is, and of which row.
    users: HashMap<Id, (u64, i64)>,
}

impl Notifier {
    /// Delivers until `shutdown` turns true, then waits for the sends already on their way.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let patience = this.patience(&shutdown);
        let mut lanes = Lanes {
            tasks: JoinSet::new(),
            users: HashMap::new(),
        };
        loop {
            if *shutdown.borrow() {
                break;
            }
            let idle = this.fill(&mut lanes, &patience).await;
            tokio::select! {
                Some(done) = lanes.tasks.join_next_with_id() => {
                    let id = match done {
                        Ok((id, ())) => id,
                        Err(e) => {
                            tracing::error!(error = %e, "a delivery failed unexpectedly");
                            e.id()
                        }
                    };
                    lanes.users.remove(&id);
                }
                _ = tokio::time::sleep(idle) => {}
                _ = this.wake.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
        this.finish(lanes).await;
        tracing::info!("notifier stopped");
    }

    /// Waits for the sends in flight to be answered and marked, within the grace period.
    async fn finish(&self, mut lanes: Lanes) {
        if lanes.tasks.is_empty() {
            return;
        }
        let grace = self.settings.shutdown_grace;
        tracing::info!(
            in_flight = lanes.tasks.len(),
            "waiting for sends in flight to be answered"
        );
        let all = async { while lanes.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!(
                ?grace,
                "sends still unanswered at shutdown; they are sent again after the restart"
            );
        }
    }

    /// Starts deliveries for users without one in flight, into free lanes; returns how long
    /// to sleep if nothing else happens.
    async fn fill(self: &Arc<Self>, lanes: &mut Lanes, patience: &Patience) -> Duration {
        // Deliveries that ended are reaped first, so a user counts as busy only while their
        // delivery really runs.
        while let Some(done) = lanes.tasks.try_join_next_with_id() {
            let id = match done {
                Ok((id, ())) => id,
                Err(e) => e.id(),
            };
            lanes.users.remove(&id);
        }
        let free = self.settings.lanes.max(1).saturating_sub(lanes.tasks.len());
        if free == 0 {
            return self.settings.idle_poll;
        }
        // A user with a message in flight has it claimed: the claim returns none of theirs.
        let rows = match self.claim(free as i64).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "outbox unavailable; retrying");
                return Duration::from_secs(5);
            }
        };
        // A user whose delivery finished but was not yet reaped here can have their next
        // message claimed already: it is given back, and taken once the lane is free. The
        // row in flight itself (come back if its claim lapsed while the store was
        // unreachable) is left to the send in flight, not started twice.
        let busy: HashMap<u64, i64> = lanes.users.values().copied().collect();
        let mut start = Vec::with_capacity(rows.len());
        for row in rows {
            match busy.get(&row.user_id) {
                None => start.push(row),
                Some(&in_flight) if in_flight == row.id => {}
                Some(_) => {
                    if let Err(e) = self.store.release_claim(&row).await {
                        tracing::warn!(outbox_id = row.id, error = %e, "could not give back a claim; it lapses");
                    }
                }
            }
        }
        for row in start {
            let (this, patience, user) = (self.clone(), patience.clone(), (row.user_id, row.id));
            let task = lanes.tasks.spawn(async move {
                if let Err(e) = this.handle(&row, &patience).await {
                    tracing::error!(outbox_id = row.id, error = %e, "could not record a delivery");
                }
            });
            lanes.users.insert(task.id(), user);
        }
        if lanes.tasks.len() >= self.settings.lanes.max(1) {
            return self.settings.idle_poll;
        }
        let busy: HashSet<u64> = lanes.users.values().map(|(user, _)| *user).collect();
        idle_time(&self.store, &busy, self.settings.idle_poll).await
    }

    /// Sends what is due now, each user's messages in order, several users at once; returns
    /// how many rows it handled. Each row is tried at most once per call.
    pub async fn drain_once(&self, shutdown: &watch::Receiver<bool>) -> Result<usize, StoreError> {
        let patience = self.patience(shutdown);
        let mut handled = HashSet::new();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let (again, rows): (Vec<OutboxRow>, Vec<OutboxRow>) = self
                .claim(DRAIN_BATCH)
                .await?
                .into_iter()
                .partition(|r| handled.contains(&r.id));
            for row in again {
                self.store.release_claim(&row).await?;
            }
            if rows.is_empty() {
                break;
            }
            handled.extend(rows.iter().map(|r| r.id));
            let done: Vec<Result<(), StoreError>> = futures::stream::iter(&rows)
                .map(|row| self.handle(row, &patience))
                .buffer_unordered(self.settings.lanes.max(1))
                .collect()
                .await;
            done.into_iter().collect::<Result<(), _>>()?;
        }
        Ok(handled.len())
    }

    /// Up to `limit` due messages, claimed for this instance ([`Store::claim_due`]).
    async fn claim(&self, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
        // Claims are timed by the database's clock: instances' clocks may disagree, and a
        // claim must not look lapsed to another instance while its owner still holds it.
        let now = self.store.clock().await?;
        self.store
            .claim_due(now, limit, now + self.claim_secs())
            .await
    }

    fn claim_secs(&self) -> i64 {
        self.settings.claim.as_secs().max(1) as i64
    }

    /// One attempt and its outcome, the row's claim renewed while they last.
    async fn handle(&self, row: &OutboxRow, patience: &Patience) -> Result<(), StoreError> {
        let attempt = async {
            let began = Utc::now().timestamp();
            let outcome = self.deliver(row, patience).await;
            self.record(row, outcome, began).await
        };
        let renew = async {
            let every = (self.settings.claim / 3).max(Duration::from_millis(100));
            loop {
                tokio::time::sleep(every).await;
                let renewed = async {
                    let until = self.store.clock().await? + self.claim_secs();
                    self.store.renew_claim(row, until).await
                };
                match tokio::time::timeout(every, renewed).await {
                    Ok(Ok(true)) => {}
                    Ok(Ok(false)) => {
                        tracing::warn!(outbox_id = row.id, "lost the claim on a message being sent")
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(outbox_id = row.id, error = %e, "could not renew a claim")
                    }
                    Err(_) => tracing::warn!(outbox_id = row.id, "renewing a claim timed out"),
                }
            }
        };
        tokio::select! {
            done = attempt => done,
            never = renew => never,
        }
    }

    fn patience(&self, shutdown: &watch::Receiver<bool>) -> Patience {
        Patience {
            max_wait: self.settings.max_chat_wait,
            stop: shutdown.clone(),
        }
    }
}

/// How long until a user not in `busy` has something due (at most `idle_poll`).
async fn idle_time(store: &Store, busy: &HashSet<u64>, idle_poll: Duration) -> Duration {
    // The database's clock: claims in the result are timed by it.
    let Ok(now) = store.clock().await else {
        return idle_poll;
    };
    match store.next_due_at(busy).await {
        Ok(Some(at)) if at > now => Duration::from_secs((at - now) as u64).min(idle_poll),
        // Due this very second (it fell due after the rows were read).
        Ok(Some(_)) => Duration::from_millis(50),
        _ => idle_poll,
    }
}
