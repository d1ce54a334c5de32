//! Feeds: the first stage of the pipeline. A [`Poller`] per configured feed,
//! fired by a [`FeedScheduler`], fetches its upstream, hands the body to the
//! feed's adapter, and passes good game lists downstream as
//! [`FeedUpdate`]s.
//!
//! Everything that can go wrong with an upstream stops here: failures are logged,
//! recorded in the feed's health, slow the feed down (backoff, Retry-After), and
//! never reach the diff.
//!
//! - [`pipeline`]: the feeds one publisher polls and the step that publishes
//!   what they change, for a single node and the cluster's leader alike;
//! - [`fetch`], [`redirect`], [`resolver`]: one poll's HTTP request, the
//!   redirects it may follow, and the addresses it may connect to;
//! - [`mode`]: adaptive polling (live or idle); [`health`]: each feed's record.

pub mod fetch;
pub mod health;
pub mod mode;
pub mod pipeline;
pub mod redirect;
pub mod resolver;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::{mpsc, Mutex};
use tokio::time::Instant;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::adapters::{Adapter, AdapterError, FeedLabels};
use crate::config::{FeedConfig, Schedule};
use crate::diff::{FeedUpdate, Polled};
use crate::telemetry;
use crate::untrusted::Untrusted;
use fetch::{Fetched, Validators};
pub use health::{FeedHealth, HealthBoard, PollSample};
use mode::{Outlook, PollMode};

/// Why a poll failed. Either way the last good state stays.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// The request, the response status or the body's transfer.
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
    /// A body arrived but the adapter could not read it.
    #[error("{0}")]
    Parse(AdapterError),
}

impl PollError {
    /// The outcome label used in logs, health records and metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            PollError::Fetch(e) => e.outcome(),
            PollError::Parse(_) => "parse_error",
        }
    }

    /// How long the upstream asked us to wait (429/503 Retry-After), uncapped.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PollError::Fetch(e) => e.retry_after(),
            PollError::Parse(_) => None,
        }
    }
}

#[derive(Debug, Default)]
struct PollState {
    validators: Validators,
    /// No poll before this instant (backoff, Retry-After).
    not_before: Option<Instant>,
    failures: u32,
    /// What the last good poll said about the games (adaptive polling).
    outlook: Option<Outlook>,
    mode: Option<PollMode>,
}

/// Polls one feed. Cheap to call often: overlapping and early calls return at once.
#[derive(Debug)]
pub struct Poller {
    pub feed: FeedConfig,
    adapter: Adapter,
    client: reqwest::Client,
    health: HealthBoard,
    out: mpsc::Sender<FeedUpdate>,
    state: Mutex<PollState>,
}

impl Poller {
    pub fn new(feed: FeedConfig, client: reqwest::Client, health: HealthBoard, out: mpsc::Sender<FeedUpdate>) -> Poller {
        let labels = FeedLabels { feed: feed.id.clone(), league: feed.league.clone(), sport: feed.sport.clone() };
        let adapter = Adapter::new(feed.adapter.clone(), labels);
        let stale_after = feed.nominal_interval() * feed.stale_after_missed_polls;
        let mut record = FeedHealth::new(&feed.id, &feed.url, stale_after);
        if feed.schedule_idle.is_some() {
            record.mode = PollMode::Live.as_str();
        }
        health.insert(record);
        Poller { feed, adapter, client, health, out, state: Mutex::new(PollState::default()) }
    }

    /// One tick of the schedule belonging to `job` (Live: `schedule`, Idle:
    /// `schedule_idle`): poll unless a poll is already running, the feed is in
    /// the other mode, outside its active windows, or backing off.
    pub async fn tick(&self, job: PollMode) {
        let Ok(mut state) = self.state.try_lock() else {
            tracing::debug!(feed = %self.feed.id, "previous poll still running; skipping this tick");
            return;
        };
        let mode = self.switch_mode(&mut state);
        if mode != PollMode::Fixed && mode != job {
            return;
        }
        if !self.in_active_window() {
            return;
        }
        if state.not_before.is_some_and(|t| Instant::now() < t) {
            self.health.update(&self.feed.id, |h| h.last_outcome = Some("skipped_backoff".into()));
            return;
        }
        let started = std::time::Instant::now();
        let outcome = self.poll(&mut state).await;
        let elapsed = started.elapsed();
        let label = match &outcome {
            Ok(label) => label,
            Err(e) => e.outcome(),
        };
        metrics::counter!(telemetry::POLLS, "feed" => self.feed.id.clone(), "outcome" => label, "mode" => mode.as_str()).increment(1);
        metrics::histogram!(telemetry::POLL_DURATION, "feed" => self.feed.id.clone()).record(elapsed.as_secs_f64());
        let now = chrono::Utc::now();
        let sample = PollSample { at: now, ms: elapsed.as_millis().min(u32::MAX as u128) as u32, ok: outcome.is_ok() };
        match outcome {
            Ok(label) => {
                state.failures = 0;
                state.not_before = None;
                tracing::debug!(feed = %self.feed.id, outcome = label, ms = elapsed.as_millis() as u64, "polled");
                self.health.update(&self.feed.id, |h| {
                    h.polls += 1;
                    h.last_attempt = Some(now);
                    h.last_success = Some(now);
                    h.consecutive_failures = 0;
                    h.last_outcome = Some(label.into());
                    h.record_poll(sample);
                });
            }
            Err(error) => {
                state.failures = state.failures.saturating_add(1);
                let delay = self.retry_delay(state.failures, error.retry_after());
                // `delay` is at most backoff_max; one too far for the clock (a
                // backoff_max of centuries) waits a day.
                let at = Instant::now();
                state.not_before = at.checked_add(delay).or_else(|| at.checked_add(Duration::from_secs(24 * 3600)));
                let label = error.outcome();
                let message = error.to_string();
                tracing::warn!(feed = %self.feed.id, outcome = label, error = %Untrusted(&message), failures = state.failures,
                    retry_in_ms = delay.as_millis() as u64, "poll failed; keeping the last good state");
                let failures = state.failures;
                self.health.update(&self.feed.id, |h| {
                    h.polls += 1;
                    h.failures += 1;
                    h.last_attempt = Some(now);
                    h.last_error = Some(format!("{label}: {message}"));
                    h.last_error_at = Some(now);
                    h.consecutive_failures = failures;
                    h.last_outcome = Some(label.into());
                    h.record_poll(sample);
                });
            }
        }
        // What this poll read may change the schedule from the next tick on.
        let mode = self.switch_mode(&mut state);
        let schedule = match (mode, &self.feed.schedule_idle) {
            (PollMode::Idle, Some(idle)) => idle,
            _ => &self.feed.schedule,
        };
        let scheduled = now + chrono::Duration::from_std(schedule.nominal()).unwrap_or(chrono::Duration::days(1));
        let backoff = state.not_before.map(|t| now + chrono::Duration::from_std(t.saturating_duration_since(Instant::now())).unwrap_or(chrono::Duration::days(1)));
        self.health.update(&self.feed.id, |h| h.next_poll = Some(backoff.map_or(scheduled, |b| b.max(scheduled))));
    }

    /// The mode the feed is in now, from the last good poll's outlook and the
    /// clock; a change is logged once and shown in the feed's health.
    fn switch_mode(&self, state: &mut PollState) -> PollMode {
        let mode = match (&self.feed.schedule_idle, &state.outlook) {
            (None, _) => PollMode::Fixed,
            // Nothing read yet: poll fast until the games are known.
            (Some(_), None) => PollMode::Live,
            (Some(_), Some(outlook)) => outlook.mode(chrono::Utc::now(), self.feed.prestart),
        };
        if state.mode == Some(mode) {
            return mode;
        }
        let schedule = match (mode, &self.feed.schedule_idle) {
            (PollMode::Idle, Some(idle)) => idle,
            _ => &self.feed.schedule,
        };
        if let Some(previous) = state.mode {
            tracing::info!(feed = %self.feed.id, from = previous.as_str(), to = mode.as_str(), schedule = ?schedule, "polling mode switched");
        }
        let stale_after = schedule.nominal() * self.feed.stale_after_missed_polls;
        let switched = state.mode.map(|_| chrono::Utc::now());
        self.health.update(&self.feed.id, |h| {
            h.mode = mode.as_str();
            h.mode_since = switched.or(h.mode_since);
            h.stale_after = stale_after;
        });
        state.mode = Some(mode);
        mode
    }

    /// Fetches, parses and hands on one poll; the outcome label of a good one.
    async fn poll(&self, state: &mut PollState) -> Result<&'static str, PollError> {
        match fetch::fetch(&self.client, &self.feed, &mut state.validators).await? {
            Fetched::NotModified => {
                self.hand_on(Polled::Same).await;
                Ok("not_modified")
            }
            Fetched::Unchanged => {
                self.hand_on(Polled::Same).await;
                Ok("unchanged")
            }
            Fetched::Body(body) => {
                metrics::counter!(telemetry::UPSTREAM_BYTES, "feed" => self.feed.id.clone()).increment(body.len() as u64);
                match self.adapter.parse(&body) {
                    Ok(games) => {
                        state.validators.accept(&body);
                        state.outlook = Some(Outlook::of(&games));
                        let count = games.len();
                        self.health.update(&self.feed.id, |h| h.games = count);
                        metrics::gauge!(telemetry::FEED_GAMES, "feed" => self.feed.id.clone()).set(count as f64);
                        self.hand_on(Polled::Games(games)).await;
                        Ok("ok")
                    }
                    Err(e) => {
                        state.validators.reject();
                        Err(PollError::Parse(e))
                    }
                }
            }
        }
    }

    /// Sends a good poll downstream. Fails only while shutting down, which is
    /// not worth reporting as a poll failure.
    async fn hand_on(&self, polled: Polled) {
        let update = FeedUpdate { feed: self.feed.id.clone(), remove_after: self.feed.remove_after_missed_polls, polled };
        let _ = self.out.send(update).await;
    }

    /// How long to wait after the `failures`-th failure in a row: the backoff,
    /// or longer when the upstream asked (Retry-After), but never longer than
    /// `backoff_max`: a hostile or mistaken "retry in a year" must not silence
    /// the feed.
    fn retry_delay(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let asked = retry_after.unwrap_or(Duration::ZERO).min(self.feed.backoff_max);
        self.backoff(failures).max(asked)
    }

    /// Exponential backoff with equal jitter: the wait doubles per failure (from
    /// `backoff_initial`, capped at `backoff_max`) and a random half of it is
    /// spread so that feeds failing together do not retry together.
    fn backoff(&self, failures: u32) -> Duration {
        let base = self.feed.backoff_initial.as_millis() as u64;
        let cap = self.feed.backoff_max.as_millis() as u64;
        let exp = base.saturating_mul(1u64 << (failures.saturating_sub(1)).min(30)).min(cap);
        let half = exp / 2;
        Duration::from_millis(half + rand::rng().random_range(0..=half))
    }

    fn in_active_window(&self) -> bool {
        if self.feed.active.is_empty() {
            return true;
        }
        let now = chrono::Utc::now().with_timezone(&self.feed.timezone);
        self.feed.active.iter().any(|w| w.contains(&now))
    }
}

/// Fires each feed's poller on its schedule (tokio-cron-scheduler).
pub struct FeedScheduler {
    scheduler: JobScheduler,
    jobs: HashMap<String, (Vec<uuid::Uuid>, Arc<Poller>)>,
}

impl FeedScheduler {
    pub async fn start() -> Result<FeedScheduler, String> {
        let scheduler = JobScheduler::new().await.map_err(|e| format!("cannot create the scheduler: {e:?}"))?;
        scheduler.start().await.map_err(|e| format!("cannot start the scheduler: {e:?}"))?;
        Ok(FeedScheduler { scheduler, jobs: HashMap::new() })
    }

    /// Schedules a poller (with adaptive polling, one job per schedule; each
    /// polls only in its own mode), and polls it once right away so a fresh
    /// start does not wait a whole interval for its first scores.
    pub async fn add(&mut self, poller: Arc<Poller>) -> Result<(), String> {
        let mut ids = Vec::new();
        let schedules = std::iter::once((PollMode::Live, &poller.feed.schedule))
            .chain(poller.feed.schedule_idle.iter().map(|s| (PollMode::Idle, s)));
        for (mode, schedule) in schedules {
            let p = poller.clone();
            let run = move |_id, _lock| {
                let p = p.clone();
                Box::pin(async move { p.tick(mode).await }) as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
            };
            let job = match schedule {
                Schedule::Every(every) => Job::new_repeated_async(*every, run),
                Schedule::Cron(cron) => Job::new_async_tz(cron.as_str(), poller.feed.timezone, run),
            }
            .map_err(|e| format!("feed {}: cannot schedule: {e:?}", poller.feed.id))?;
            ids.push(self.scheduler.add(job).await.map_err(|e| format!("feed {}: cannot schedule: {e:?}", poller.feed.id))?);
        }
        self.jobs.insert(poller.feed.id.clone(), (ids, poller.clone()));
        tokio::spawn(async move { poller.tick(PollMode::Live).await });
        Ok(())
    }

    /// Stops polling a feed.
    pub async fn remove(&mut self, feed: &str) {
        if let Some((ids, poller)) = self.jobs.remove(feed) {
            for id in ids {
                if let Err(e) = self.scheduler.remove(&id).await {
                    tracing::warn!(feed, error = ?e, "could not unschedule feed");
                }
            }
            poller.health.remove(feed);
        }
    }

    pub fn feeds(&self) -> impl Iterator<Item = &Arc<Poller>> {
        self.jobs.values().map(|(_, p)| p)
    }

    pub async fn shutdown(mut self) {
        let _ = self.scheduler.shutdown().await;
    }
}

