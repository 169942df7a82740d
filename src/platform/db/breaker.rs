//! The database circuit breaker. A database that stops answering without closing connections (a
//! frozen host, a network partition) must cost requests a fast 503, not the length of the outage.
//!
//! Any failure of database work — no connection, a checkout health check or a unit of work past
//! its deadline, a connection found broken — starts one probe: `SELECT 1` on a connection of its
//! own (not from the pool, which stuck work may have exhausted; kept between probes, a new one
//! when it fails — see `ProbeConnection`), bounded by `probe_timeout`. When the
//! probe answers, it was a one-off (a slow query, a busy pool) and nothing changes. When it does
//! not, the breaker opens: work is refused at once with [`super::DbError::Unavailable`] (a 503 with
//! `Retry-After`), waiters still queued are released with the same answer, `/readyz` reports the
//! database down, and a probe runs every `probe_interval` until one answers, which closes the
//! breaker. A probe that outlives its deadline is not started again but waited for, so a frozen
//! database costs one blocked thread, and its late answer (after `SIGCONT`) closes the breaker.
//! A probe past its deadline while other work got answers meanwhile does not open the breaker:
//! that database is slow (on a saturated host even a round trip can take longer than the probe's
//! deadline), not silent, and refusing work would turn slowness into failed requests.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// The breaker's state machine, with no thread or database (tested below); time is passed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Work goes to the database. `probing` while a probe checks it; `last_ok` is when a probe
    /// last answered (slowness does not start another probe within `probe_interval` of it).
    Closed {
        probing: bool,
        last_ok: Option<Instant>,
    },
    /// A probe failed: work is refused, and probes repeat until one answers.
    Open { reason: String },
}

/// What the caller of a transition must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Nothing,
    /// Start the probe loop (it runs until a probe answers).
    StartProbing,
    /// The breaker just opened: release waiters, log.
    Opened,
    /// The breaker just closed: log.
    Closed,
}

impl Default for State {
    fn default() -> Self {
        State::Closed {
            probing: false,
            last_ok: None,
        }
    }
}

impl State {
    /// Whether work may go to the database; the reason it may not.
    pub fn admit(&self) -> Result<(), &str> {
        match self {
            State::Closed { .. } => Ok(()),
            State::Open { reason } => Err(reason),
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(self, State::Open { .. })
    }

    /// Database work failed: check the database unless a probe is already on it.
    pub fn on_failure(&mut self) -> Action {
        match self {
            State::Closed {
                probing: probing @ false,
                ..
            } => {
                *probing = true;
                Action::StartProbing
            }
            _ => Action::Nothing,
        }
    }

    /// A checkout is slow (maybe a busy pool, maybe a silent database): check the database,
    /// unless a probe is on it or answered less than `cooldown` ago.
    pub fn on_slow(&mut self, now: Instant, cooldown: Duration) -> Action {
        match self {
            State::Closed {
                probing: false,
                last_ok: Some(at),
            } if now.saturating_duration_since(*at) < cooldown => Action::Nothing,
            _ => self.on_failure(),
        }
    }

    /// A probe finished at `now`.
    pub fn on_probe(&mut self, result: Result<(), String>, now: Instant) -> Action {
        let was_open = self.is_open();
        match result {
            Ok(()) => {
                *self = State::Closed {
                    probing: false,
                    last_ok: Some(now),
                };
                if was_open {
                    Action::Closed
                } else {
                    Action::Nothing
                }
            }
            Err(reason) => {
                *self = State::Open { reason };
                if was_open {
                    Action::Nothing
                } else {
                    Action::Opened
                }
            }
        }
    }

    /// Whether the probe loop must go on.
    pub fn needs_probe(&self) -> bool {
        !matches!(self, State::Closed { probing: false, .. })
    }
}

/// Checks the database on a connection of its own; blocking.
pub type Probe = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

type ProbeRun = Pin<
    Box<
        dyn Future<Output = Result<Result<(), String>, crate::platform::blocking::BlockingError>>
            + Send,
    >,
>;

/// The shared breaker: the state, a watch that says "open" to waiters, and the probe loop.
pub struct Breaker {
    state: Mutex<State>,
    open: watch::Sender<bool>,
    opened_at: Mutex<Option<Instant>>,
    probe: Probe,
    probe_timeout: Duration,
    probe_interval: Duration,
    /// Units of work the database answered (see [`Breaker::record_answer`]).
    answered: AtomicU64,
}

impl Breaker {
    pub fn new(probe: Probe, probe_timeout: Duration, probe_interval: Duration) -> Arc<Breaker> {
        Arc::new(Breaker {
            state: Mutex::new(State::default()),
            open: watch::Sender::new(false),
            opened_at: Mutex::new(None),
            probe,
            probe_timeout,
            probe_interval,
            answered: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        crate::platform::lock(&self.state)
    }

    /// `Err(reason)` while the breaker is open.
    pub fn admit(&self) -> Result<(), String> {
        self.lock().admit().map_err(str::to_string)
    }

    pub fn is_open(&self) -> bool {
        self.lock().is_open()
    }

    /// Changes to `true` when the breaker opens (waiters give up), to `false` when it closes.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.open.subscribe()
    }

    /// Database work failed; `what` says how (logged). Starts the probe loop unless it runs.
    pub fn record_failure(self: &Arc<Self>, what: &str) {
        let action = self.lock().on_failure();
        self.start(action, what);
    }

    /// The database answered a unit of work (whatever its result) on a connection still sound.
    pub fn record_answer(&self) {
        self.answered.fetch_add(1, Ordering::Relaxed);
    }

    /// A checkout (or work on a connection whose check was skipped) is taking long; probes
    /// unless a probe answered within `probe_interval`.
    pub fn record_slow(self: &Arc<Self>) {
        let action = self.lock().on_slow(Instant::now(), self.probe_interval);
        self.start(action, "a connection checkout or unchecked work is slow");
    }

    fn start(self: &Arc<Self>, action: Action, what: &str) {
        if action != Action::StartProbing {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                tracing::info!(cause = %what, "probing the database");
                runtime.spawn(self.clone().probe_loop());
            }
            // Synchronous callers (no runtime) get their own error; nothing probes for them.
            Err(_) => {
                if let State::Closed { probing, .. } = &mut *self.lock() {
                    *probing = false;
                }
            }
        }
    }

    async fn probe_loop(self: Arc<Self>) {
        let mut pending: Option<ProbeRun> = None;
        loop {
            let answered_before = self.answered.load(Ordering::Relaxed);
            // A probe still blocked (a frozen server) is waited for, not started again: a silent
            // database costs one thread, and the late answer counts as soon as it comes.
            let (mut run, limit) = match pending.take() {
                Some(run) => (run, self.probe_interval),
                None => {
                    let probe = self.probe.clone();
                    let run: ProbeRun = Box::pin(crate::platform::blocking::run_blocking(
                        "db.probe",
                        move || probe(),
                    ));
                    (run, self.probe_timeout)
                }
            };
            match tokio::time::timeout(limit, &mut run).await {
                Ok(answer) => {
                    let answer = answer.unwrap_or_else(|worker| Err(worker.to_string()));
                    if !self.apply_probe(answer) {
                        return;
                    }
                    tokio::time::sleep(self.probe_interval).await;
                }
                Err(_) => {
                    pending = Some(run);
                    // Answers to other work meanwhile: slow, not silent (see the module docs).
                    let result = if self.answered.load(Ordering::Relaxed) != answered_before {
                        tracing::info!(
                            "a probe outlasted its deadline, but the database answered other work meanwhile: it is slow, not down"
                        );
                        Ok(())
                    } else {
                        Err(format!(
                            "no answer to a probe (SELECT 1 on the probe's own connection) within {}",
                            humantime::format_duration(self.probe_timeout)
                        ))
                    };
                    if !self.apply_probe(result) {
                        return;
                    }
                }
            }
        }
    }

    /// Whether the last probe answered and no other runs (tests of the breaker's users).
    #[cfg(test)]
    pub(crate) fn probe_answered(&self) -> bool {
        matches!(
            *self.lock(),
            State::Closed {
                probing: false,
                last_ok: Some(_)
            }
        )
    }

    /// Applies a probe result as if a probe had run (tests of the breaker's users).
    #[cfg(test)]
    pub(crate) fn force_probe_result(&self, result: Result<(), String>) {
        self.apply_probe(result);
    }

    /// Records a probe's result; whether probing must go on.
    fn apply_probe(&self, result: Result<(), String>) -> bool {
        let mut state = self.lock();
        let action = state.on_probe(result, Instant::now());
        let go_on = state.needs_probe();
        let reason = state.admit().err().map(str::to_string);
        drop(state);
        match action {
            Action::Opened => {
                *crate::platform::lock(&self.opened_at) = Some(Instant::now());
                tracing::error!(
                    reason = %reason.unwrap_or_default(),
                    "database unreachable: circuit breaker open; requests get 503 until a probe answers"
                );
                self.open.send_replace(true);
            }
            Action::Closed => {
                let down_for = crate::platform::lock(&self.opened_at)
                    .take()
                    .map(|at| at.elapsed().as_millis() as u64)
                    .unwrap_or_default();
                tracing::warn!(
                    down_for_ms = down_for,
                    "database answers again: circuit breaker closed"
                );
                self.open.send_replace(false);
            }
            Action::Nothing | Action::StartProbing => {}
        }
        go_on
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    #[test]
    fn a_failure_starts_one_probe_and_a_good_probe_changes_nothing() {
        let now = Instant::now();
        let mut s = State::default();
        assert_eq!(s.admit(), Ok(()));
        assert_eq!(s.on_failure(), Action::StartProbing);
        assert_eq!(s.on_failure(), Action::Nothing, "one probe at a time");
        assert_eq!(s.on_slow(now, Duration::ZERO), Action::Nothing);
        assert_eq!(s.admit(), Ok(()), "work still goes through while probing");
        assert!(s.needs_probe());
        assert_eq!(s.on_probe(Ok(()), now), Action::Nothing);
        assert!(!s.is_open());
        assert!(!s.needs_probe());
        assert_eq!(
            s.on_failure(),
            Action::StartProbing,
            "the next failure probes again"
        );
    }

    #[test]
    fn slowness_probes_at_most_once_per_cooldown_after_a_good_probe() {
        let t0 = Instant::now();
        let cooldown = Duration::from_secs(1);
        let mut s = State::default();
        assert_eq!(
            s.on_slow(t0, cooldown),
            Action::StartProbing,
            "no probe yet: probe"
        );
        s.on_probe(Ok(()), t0);
        assert_eq!(
            s.on_slow(t0 + Duration::from_millis(999), cooldown),
            Action::Nothing
        );
        assert_eq!(s.on_slow(t0 + cooldown, cooldown), Action::StartProbing);
        s.on_probe(Ok(()), t0 + cooldown);
        assert_eq!(
            s.on_failure(),
            Action::StartProbing,
            "a failure probes even within the cooldown"
        );
    }

    #[test]
    fn a_failed_probe_opens_until_a_probe_answers() {
        let now = Instant::now();
        let mut s = State::default();
        s.on_failure();
        assert_eq!(s.on_probe(Err("silent".into()), now), Action::Opened);
        assert_eq!(s.admit(), Err("silent"));
        assert!(s.needs_probe());
        assert_eq!(
            s.on_failure(),
            Action::Nothing,
            "the probe loop is already running"
        );
        assert_eq!(s.on_slow(now, Duration::ZERO), Action::Nothing);
        assert_eq!(s.on_probe(Err("still silent".into()), now), Action::Nothing);
        assert_eq!(
            s.admit(),
            Err("still silent"),
            "the latest reason is reported"
        );
        assert_eq!(s.on_probe(Ok(()), now), Action::Closed);
        assert_eq!(s.admit(), Ok(()));
        assert!(!s.needs_probe());
    }

    fn breaker(
        up: Arc<AtomicBool>,
        calls: Arc<AtomicUsize>,
        hang: Arc<AtomicBool>,
    ) -> Arc<Breaker> {
        breaker_with_deadline(up, calls, hang, Duration::from_millis(50))
    }

    /// A breaker whose probe counts its `calls`, blocks while `hang`, then answers if `up`.
    fn breaker_with_deadline(
        up: Arc<AtomicBool>,
        calls: Arc<AtomicUsize>,
        hang: Arc<AtomicBool>,
        probe_timeout: Duration,
    ) -> Arc<Breaker> {
        let probe: Probe = Arc::new(move || {
            calls.fetch_add(1, Ordering::SeqCst);
            while hang.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            if up.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err("connection refused".into())
            }
        });
        Breaker::new(probe, probe_timeout, Duration::from_millis(20))
    }

    /// A probe's switches: whether it answers (`up`), how often it ran, whether it hangs.
    fn probe_flags(up: bool, hang: bool) -> (Arc<AtomicBool>, Arc<AtomicUsize>, Arc<AtomicBool>) {
        (
            Arc::new(AtomicBool::new(up)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(hang)),
        )
    }

    /// Unblocks a hung probe's thread when dropped, even when an assertion fails (the runtime
    /// waits for the thread).
    struct Release(Arc<AtomicBool>);

    impl Drop for Release {
        fn drop(&mut self) {
            self.0.store(false, Ordering::SeqCst);
        }
    }

    /// Polls `cond` until it holds (at most 5 s).
    pub(crate) async fn wait_until(what: &str, cond: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn opens_on_a_refused_probe_releases_waiters_and_closes_when_the_database_answers() {
        let (up, calls, hang) = probe_flags(false, false);
        let b = breaker(up.clone(), calls.clone(), hang);
        let mut waiter = b.subscribe();
        b.record_failure("test");
        tokio::time::timeout(Duration::from_secs(5), waiter.wait_for(|open| *open))
            .await
            .expect("waiters are told the breaker opened")
            .unwrap();
        assert!(b.admit().unwrap_err().contains("connection refused"));
        wait_until("a second probe", || calls.load(Ordering::SeqCst) >= 2).await;
        up.store(true, Ordering::SeqCst);
        wait_until("the breaker to close", || !b.is_open()).await;
        assert_eq!(b.admit(), Ok(()));
        assert!(!*waiter.borrow_and_update());
    }

    #[tokio::test]
    async fn a_hung_probe_opens_the_breaker_is_not_restarted_and_its_late_answer_closes() {
        let (up, calls, hang) = probe_flags(true, true);
        let b = breaker(up, calls.clone(), hang.clone());
        let _release = Release(hang.clone());
        b.record_failure("test");
        wait_until("the breaker to open", || b.is_open()).await;
        assert!(b.admit().unwrap_err().contains("no answer to a probe"));
        // Several probe intervals pass; the hung probe is waited for, not started again.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(b.is_open());
        hang.store(false, Ordering::SeqCst);
        wait_until("the breaker to close", || !b.is_open()).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_slow_probe_does_not_open_the_breaker_while_the_database_answers_other_work() {
        let (up, calls, hang) = probe_flags(true, true);
        // A deadline long enough that the answer below comes within it, however busy the host.
        let deadline = Duration::from_millis(500);
        let b = breaker_with_deadline(up, calls.clone(), hang.clone(), deadline);
        let _release = Release(hang.clone());
        b.record_failure("a checkout timed out");
        // The probe hangs past its deadline; other work is answered meanwhile.
        wait_until("the probe to start", || calls.load(Ordering::SeqCst) == 1).await;
        b.record_answer();
        wait_until("probing to end", || !b.lock().needs_probe()).await;
        assert!(!b.is_open(), "a database that answers work is not down");
        assert_eq!(b.admit(), Ok(()));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    /// An embedded SQLite file has no server that can go silent, so its probe always answers:
    /// a failure, even on a file that cannot be opened at all, never opens the breaker.
    #[tokio::test]
    async fn the_database_breaker_never_opens_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_dir = dir.path().join("a-file");
        std::fs::write(&not_a_dir, b"").unwrap();
        let mut settings = super::super::test_settings();
        settings.url = format!("sqlite://{}/maestro.db", not_a_dir.display());
        let db = super::super::Db::new(&settings).unwrap();
        let b = db.breaker.clone();
        b.record_failure("test");
        wait_until("the probe to answer", || b.probe_answered()).await;
        assert!(!b.is_open());
        assert_eq!(db.breaker_open(), None);
    }

    #[tokio::test]
    async fn a_good_probe_after_a_failure_keeps_the_breaker_closed() {
        let (up, calls, hang) = probe_flags(true, false);
        let b = breaker(up, calls.clone(), hang);
        b.record_failure("a busy pool");
        wait_until("the probe", || calls.load(Ordering::SeqCst) == 1).await;
        wait_until("probing to end", || !b.lock().needs_probe()).await;
        assert!(!b.is_open());
        b.record_failure("again");
        wait_until("a new probe", || calls.load(Ordering::SeqCst) == 2).await;
    }
}
