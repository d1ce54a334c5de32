//! The leader lease: taken with one script, kept alive by a task of its own,
//! given back with a compare-and-DEL.
//!
//! The lease is what makes "one leader" true, so this node's idea of it must
//! end before Redis' does, whatever the network does:
//!
//! - Locally a lease granted (or renewed) by a command *sent* at `s` lasts
//!   until `s + lease − guard`. Redis counts from when it ran the command,
//!   which is later, so Redis lets another node take over only after this
//!   node has stopped; the guard (a tenth of the lease) covers timers that
//!   fire late and clocks that drift.
//! - The keeper renews every lease/3 on its own connection, so a slow publish
//!   never delays a renewal, and each renewal waits no longer than the lease
//!   lasts: behind a black-holed socket (no error, no answer) the lease ends on
//!   time instead of after a response timeout.
//! - Whatever else the leader sends to Redis during a term is raced against
//!   [`ends`]: the term stops the moment the lease runs out. A command that was
//!   already sent may still arrive later; the publish script checks the lease
//!   itself and refuses it (counted in the meta hash, see [`super::scripts`]).

use std::time::Duration;

use redis::RedisResult;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{interval_at, sleep_until, timeout_at, Instant, MissedTickBehavior};

use super::link::Link;
use super::scripts::{self, Keys};
use crate::config::ClusterConfig;

/// Bounds each lease command on a connection that answers at all.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// This node's end of a lease Redis granted or renewed on a command sent at
/// `sent`: Redis' end, less the guard.
fn local_end(sent: Instant, lease: Duration) -> Instant {
    sent + usable(lease)
}

/// The part of a lease this node uses: all but the guard, a tenth.
fn usable(lease: Duration) -> Duration {
    lease - lease / 10
}

/// What the keeper knows about the lease.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Held {
    /// Held until then (this node's view, the guard taken off).
    Until(Instant),
    /// Gone, and why.
    Lost(&'static str),
}

pub struct Lease {
    keys: Keys,
    /// `<node_id>:<nonce>`: the lease's value, unique to this process.
    pub token: String,
    lease: Duration,
    renew_every: Duration,
    link: Link,
    /// For the keeper's own connection.
    config: ClusterConfig,
}

/// A running keeper: dropping it stops the renewals.
pub struct Keeper {
    pub held: watch::Receiver<Held>,
    task: JoinHandle<()>,
}

impl Drop for Keeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Lease {
    pub fn new(config: &ClusterConfig, keys: Keys, token: String) -> Lease {
        Lease {
            keys,
            token,
            lease: config.lease,
            renew_every: config.renew_every(),
            link: Link::new(config, RESPONSE_TIMEOUT),
            config: config.clone(),
        }
    }

    /// Takes (or keeps) the lease: until when it is surely held, or how long
    /// to wait before trying again (the other holder's lease has that left).
    pub async fn acquire(&mut self) -> RedisResult<Result<Instant, Duration>> {
        let sent = Instant::now();
        let held: i64 = self.link.invoke(scripts::ACQUIRE.key(&self.keys.leader).arg(&self.token).arg(self.lease.as_millis() as u64)).await?;
        if held != 1 {
            return Ok(Err(Duration::from_millis(held.unsigned_abs())));
        }
        let until = local_end(sent, self.lease);
        if Instant::now() >= until {
            // The answer took longer than the lease lasts: holding it would only
            // keep the others out. Give it back and let a closer node lead.
            tracing::warn!(waited = ?sent.elapsed(), "the lease was granted too late to use (Redis answers too slowly); releasing it");
            self.release().await;
            return Ok(Err(self.lease));
        }
        Ok(Ok(until))
    }

    /// Renews the lease in the background for the term of `epoch`.
    pub fn keep(&self, epoch: &str, until: Instant) -> Keeper {
        let (tx, held) = watch::channel(Held::Until(until));
        let renewer = Renewer {
            keys: self.keys.clone(),
            token: self.token.clone(),
            epoch: epoch.to_string(),
            lease: self.lease,
            renew_every: self.renew_every,
            link: Link::new(&self.config, RESPONSE_TIMEOUT),
        };
        // The first renewal is due renew_every after the command that granted
        // the lease was sent (now, if beginning the term took longer).
        let granted = until - usable(self.lease);
        let task = tokio::spawn(renewer.run(granted + self.renew_every, until, tx));
        Keeper { held, task }
    }

    /// Hands over at once rather than after the lease runs out.
    pub async fn release(&mut self) {
        let released: RedisResult<i64> = self.link.invoke(scripts::RELEASE.key(&self.keys.leader).arg(&self.token)).await;
        if released == Ok(1) {
            tracing::info!("released the leader lease");
        }
    }
}

/// The keeper's task.
struct Renewer {
    keys: Keys,
    token: String,
    epoch: String,
    lease: Duration,
    renew_every: Duration,
    link: Link,
}

impl Renewer {
    async fn run(mut self, first: Instant, mut until: Instant, tx: watch::Sender<Held>) {
        let mut tick = interval_at(first, self.renew_every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let sent = Instant::now();
            let mut renew = scripts::RENEW.prepare_invoke();
            renew.key(&self.keys.leader).key(&self.keys.meta).arg(&self.token).arg(self.lease.as_millis() as u64).arg(&self.epoch);
            let lost = match timeout_at(until, self.link.invoke::<i64>(&renew)).await {
                Ok(Ok(1)) => {
                    until = local_end(sent, self.lease);
                    tx.send_replace(Held::Until(until));
                    continue;
                }
                Ok(Ok(2)) => "the epoch changed under it",
                Ok(Ok(_)) => "lost the lease",
                Ok(Err(e)) if Instant::now() < until => {
                    tracing::warn!(error = %e, "cannot renew the lease; retrying");
                    continue;
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "cannot renew the lease and it has run out");
                    "lease expired"
                }
                Err(_) => {
                    tracing::error!("Redis did not answer the renewal before the lease ran out");
                    self.link.broken();
                    "lease expired"
                }
            };
            tx.send_replace(Held::Lost(lost));
            return;
        }
    }
}

/// Resolves when the lease is gone: lost, or run out without a renewal.
/// Cancel-safe, so a term's loop can wait on it beside its other work.
pub async fn ends(held: &mut watch::Receiver<Held>) -> &'static str {
    loop {
        let now = *held.borrow_and_update();
        match now {
            Held::Lost(why) => return why,
            Held::Until(until) => {
                tokio::select! {
                    _ = sleep_until(until) => {
                        if matches!(*held.borrow(), Held::Until(later) if later > Instant::now()) {
                            continue;
                        }
                        return "lease expired";
                    }
                    changed = held.changed() => {
                        if changed.is_err() {
                            return "lease expired";
                        }
                    }
                }
            }
        }
    }
}

/// Runs `work` while the lease lasts; `Err(why)` if the lease ends first.
/// Work that is done is taken even when the lease has just ended: what it
/// wrote, the scripts let through while the lease held.
pub async fn within<T>(held: &mut watch::Receiver<Held>, work: impl std::future::Future<Output = Result<T, &'static str>>) -> Result<T, &'static str> {
    tokio::select! {
        biased;
        done = work => done,
        why = ends(held) => Err(why),
    }
}

/// The lease's end as this node sees it now (for a last check before sending).
pub fn until(held: &watch::Receiver<Held>) -> Option<Instant> {
    match *held.borrow() {
        Held::Until(until) if until > Instant::now() => Some(until),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_term_ends_when_its_lease_runs_out_unless_renewed_in_time() {
        let start = Instant::now();
        let (tx, mut held) = watch::channel(Held::Until(start + Duration::from_millis(60)));
        let renew = async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            tx.send_replace(Held::Until(Instant::now() + Duration::from_millis(60)));
        };
        let (why, ()) = tokio::join!(ends(&mut held), renew);
        assert_eq!(why, "lease expired");
        assert!(start.elapsed() >= Duration::from_millis(90), "the renewal moved the end: {:?}", start.elapsed());
        assert_eq!(until(&held), None);
    }

    #[tokio::test]
    async fn work_is_cut_off_when_the_lease_is_lost() {
        let (tx, mut held) = watch::channel(Held::Until(Instant::now() + Duration::from_secs(60)));
        assert!(until(&held).is_some());
        let never = std::future::pending::<Result<(), &'static str>>();
        let lose = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tx.send_replace(Held::Lost("lost the lease"));
        };
        let (done, ()) = tokio::join!(within(&mut held, never), lose);
        assert_eq!(done, Err("lost the lease"));
        assert_eq!(within(&mut held, async { Ok(1) }).await, Ok(1), "work already done is taken");
    }

    #[test]
    fn this_node_stops_a_tenth_of_the_lease_before_redis_lets_another_in() {
        let sent = Instant::now();
        assert_eq!(local_end(sent, Duration::from_secs(5)) - sent, Duration::from_millis(4500));
        assert_eq!(local_end(sent, Duration::from_secs(1)) - sent, Duration::from_millis(900));
    }
}
