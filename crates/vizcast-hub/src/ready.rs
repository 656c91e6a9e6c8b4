//! Whether the hub is ready to serve joins: a source that restores state (an edge reading what
//! its broker retained) holds joins until it has, so that a viewer joining meanwhile gets that
//! state in its join snapshot rather than as a burst of live frames after an empty one.
//!
//! Holds are bounded: each has a deadline, after which joins go on with what there is (the
//! source's status says it is still restoring). `/readyz` reports the same.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::watch;

/// The holds on joins, and who waits on them.
#[derive(Debug)]
pub(crate) struct Readiness {
    holds: Mutex<Vec<Held>>,
    /// Bumped whenever a hold ends, so that waiting joins look again.
    changed: watch::Sender<u64>,
    next_id: Mutex<u64>,
}

#[derive(Debug)]
struct Held {
    id: u64,
    why: String,
    until: Instant,
}

impl Readiness {
    pub(crate) fn new() -> Self {
        Self {
            holds: Mutex::new(Vec::new()),
            changed: watch::Sender::new(0),
            next_id: Mutex::new(0),
        }
    }

    /// Holds joins for at most `timeout`, saying `why`; returns the hold's id.
    pub(crate) fn hold(&self, why: String, timeout: Duration) -> u64 {
        let id = {
            let mut next = self.next_id.lock();
            *next += 1;
            *next
        };
        self.holds.lock().push(Held {
            id,
            why,
            until: Instant::now() + timeout,
        });
        id
    }

    /// Ends hold `id`.
    pub(crate) fn release(&self, id: u64) {
        let removed = {
            let mut holds = self.holds.lock();
            let before = holds.len();
            holds.retain(|h| h.id != id);
            holds.len() != before
        };
        if removed {
            self.changed.send_modify(|n| *n += 1);
        }
    }

    /// What holds joins now (holds past their deadline do not), or `None` when ready.
    pub(crate) fn waiting_for(&self) -> Option<(String, Instant)> {
        let now = Instant::now();
        self.holds
            .lock()
            .iter()
            .filter(|h| h.until > now)
            .max_by_key(|h| h.until)
            .map(|h| (h.why.clone(), h.until))
    }

    /// Waits until no hold is in force; returns false when a hold's deadline ended the wait.
    pub(crate) async fn wait(&self) -> bool {
        let mut changed = self.changed.subscribe();
        loop {
            changed.borrow_and_update();
            let Some((_, until)) = self.waiting_for() else {
                return true;
            };
            tokio::select! {
                result = changed.changed() => if result.is_err() { return true },
                () = tokio::time::sleep_until(until.into()) => {
                    if self.waiting_for().is_none() {
                        return false;
                    }
                }
            }
        }
    }
}

/// Holds joins while it lives (see [`crate::Hub::hold_joins`]).
#[derive(Debug)]
pub struct JoinHold {
    readiness: Arc<Readiness>,
    id: u64,
}

impl JoinHold {
    /// Holds joins of `readiness` for at most `timeout`, saying `why`.
    pub(crate) fn new(readiness: Arc<Readiness>, why: String, timeout: Duration) -> Self {
        let id = readiness.hold(why, timeout);
        Self { readiness, id }
    }
}

impl Drop for JoinHold {
    fn drop(&mut self) {
        self.readiness.release(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn joins_wait_for_the_hold_and_no_longer_than_its_deadline() {
        let ready = Arc::new(Readiness::new());
        assert!(ready.waiting_for().is_none());
        assert!(ready.wait().await);

        let id = ready.hold("restoring".to_owned(), Duration::from_secs(3600));
        assert_eq!(ready.waiting_for().unwrap().0, "restoring");
        let waiter = tokio::spawn({
            let ready = ready.clone();
            async move { ready.wait().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        ready.release(id);
        assert!(waiter.await.unwrap(), "released, not timed out");
        assert!(ready.waiting_for().is_none());

        // A hold whose deadline passes lets joins go on, saying so.
        let _id = ready.hold("slow".to_owned(), Duration::from_millis(20));
        assert!(!ready.wait().await);
        assert!(ready.waiting_for().is_none());
    }
}
