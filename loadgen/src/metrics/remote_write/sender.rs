//! The remote-write task: every interval it queues the latest reading (if
//! newer than the last one queued) and sends the queue oldest first,
//! retrying 5xx, 429 and transport errors with backoff; at the end it
//! sends the final reading within a deadline, dropping older readings
//! first when time or the receiver is short.
//!
//! It only reads the recorder's watch channels, so it never slows the
//! run. Its state ([`State`]) is apart from the I/O: the loop in
//! [`run`] feeds it readings and answers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use common::report::RemoteWriteReport;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{
    Auth, CONTENT_ENCODING, CONTENT_TYPE, Config, Queue, Queued, RemoteWriteError, Target, VERSION,
    VERSION_HEADER, Verdict, backoff, encode_at, status_error, verdict,
};
use crate::metrics::Exposition;

/// How long [`Writer::finish`] waits past its deadline for the task to
/// stop before it aborts it.
const SLACK: Duration = Duration::from_millis(500);
/// What an interruption leaves the final write.
const CUT: Duration = Duration::from_millis(500);
/// The most of a failed answer's body read (for its message).
const BODY_LIMIT: usize = 4096;

/// The running remote-write sender of one run.
#[derive(Debug)]
pub struct Writer {
    report: watch::Receiver<RemoteWriteReport>,
    /// When the final reading must be sent by, and that deadline as given.
    stop: watch::Sender<Option<(Instant, Duration)>>,
    handle: Option<JoinHandle<()>>,
}

impl Writer {
    /// Checks the URL (http/https, a host; credentials in the URL become
    /// basic auth unless `cfg.auth` is given) and spawns the task on the
    /// current tokio runtime.
    pub fn start(
        cfg: Config,
        readings: watch::Receiver<Option<Arc<Exposition>>>,
        finished: watch::Receiver<bool>,
    ) -> Result<Writer, RemoteWriteError> {
        let target = Target::parse(&cfg.url, &cfg.auth)?;
        if cfg.interval.is_zero() {
            return Err(RemoteWriteError::Zero { what: "interval" });
        }
        if cfg.timeout.is_zero() {
            return Err(RemoteWriteError::Zero { what: "timeout" });
        }
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| RemoteWriteError::NoRuntime)?;
        let client = reqwest::Client::builder()
            .user_agent(concat!("loadgen/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| RemoteWriteError::Client(e.to_string()))?;
        let report = RemoteWriteReport {
            url: target.url.clone(),
            sent: 0,
            samples: 0,
            failed: 0,
            retries: 0,
            dropped: 0,
            final_sent: false,
            last_error: None,
        };
        let (report_tx, report_rx) = watch::channel(report.clone());
        let (stop_tx, stop_rx) = watch::channel(None);
        let io = Io {
            client,
            target,
            timeout: cfg.timeout,
        };
        let state = State::new(cfg.max_queue, report);
        let handle = runtime.spawn(run(
            io,
            state,
            cfg.interval,
            Channels {
                readings,
                finished,
                stop: stop_rx,
                report: report_tx,
            },
        ));
        Ok(Writer {
            report: report_rx,
            stop: stop_tx,
            handle: Some(handle),
        })
    }

    /// Waits until the final reading has been sent (or given up on), at
    /// most `deadline`, then stops the task and returns what happened. The
    /// URL in the report has no credentials.
    ///
    /// A run that ended without setting `finished` (interrupted) has its
    /// latest reading sent as the final one.
    pub async fn finish(self, deadline: Duration) -> RemoteWriteReport {
        self.finish_or(deadline, std::future::pending()).await
    }

    /// [`Writer::finish`], cut short to half a second once `cut` completes
    /// (a Ctrl-C while the final reading is being sent).
    pub async fn finish_or(
        mut self,
        deadline: Duration,
        cut: impl std::future::Future<Output = ()>,
    ) -> RemoteWriteReport {
        let now = Instant::now();
        let by = now
            .checked_add(deadline)
            .or_else(|| now.checked_add(Duration::from_secs(86_400)))
            .unwrap_or(now);
        let _ = self.stop.send(Some((by, deadline)));
        if let Some(mut handle) = self.handle.take() {
            let wait = deadline.saturating_add(SLACK);
            let done = tokio::select! {
                r = tokio::time::timeout(wait, &mut handle) => r.is_ok(),
                _ = cut => tokio::time::timeout(CUT, &mut handle).await.is_ok(),
            };
            if !done {
                handle.abort();
                let _ = handle.await;
            }
        }
        self.report.borrow().clone()
    }

    /// Counters so far (for a live view or logs).
    pub fn report(&self) -> RemoteWriteReport {
        self.report.borrow().clone()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.abort();
        }
    }
}

/// What the task reads and publishes.
struct Channels {
    readings: watch::Receiver<Option<Arc<Exposition>>>,
    finished: watch::Receiver<bool>,
    stop: watch::Receiver<Option<(Instant, Duration)>>,
    report: watch::Sender<RemoteWriteReport>,
}

/// How a write request went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    Accepted,
    Retry(String),
    Reject(String),
}

/// The last reading queued.
#[derive(Debug)]
struct Last {
    reading: Arc<Exposition>,
    id: u64,
    timestamp_ms: i64,
}

/// The reading being sent (or waiting for its retry).
#[derive(Debug)]
pub(crate) struct InFlight {
    item: Queued,
    /// Failed attempts so far.
    failures: u32,
    last_failure: Option<String>,
}

/// The sender's state, apart from the I/O.
#[derive(Debug)]
pub(crate) struct State {
    queue: Queue,
    report: RemoteWriteReport,
    next_id: u64,
    last: Option<Last>,
    /// The id of the last reading accepted.
    accepted: Option<u64>,
    /// The id of the last reading refused (4xx).
    rejected: Option<u64>,
    /// The final reading is known (queued, or already accepted).
    final_known: bool,
    /// Nothing more to do: the final reading was accepted or given up on.
    done: bool,
    in_flight: Option<InFlight>,
}

impl State {
    pub(crate) fn new(max_queue: usize, report: RemoteWriteReport) -> Self {
        Self {
            queue: Queue::new(max_queue),
            report,
            next_id: 0,
            last: None,
            accepted: None,
            rejected: None,
            final_known: false,
            done: false,
            in_flight: None,
        }
    }

    fn enqueue(&mut self, reading: Arc<Exposition>, timestamp_ms: i64, is_final: bool) {
        let (body, samples) = encode_at(&reading, timestamp_ms);
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        let dropped = self.queue.push(Queued {
            id,
            timestamp_ms,
            body,
            samples,
            is_final,
        });
        self.report.dropped = self.report.dropped.saturating_add(dropped);
        self.last = Some(Last {
            reading,
            id,
            timestamp_ms,
        });
    }

    /// On a tick: queues `latest` if it is newer than the last reading
    /// queued.
    pub(crate) fn tick(&mut self, latest: Option<Arc<Exposition>>) {
        if self.final_known {
            return;
        }
        let Some(e) = latest else { return };
        if let Some(last) = &self.last
            && (Arc::ptr_eq(&last.reading, &e) || e.timestamp_ms <= last.timestamp_ms)
        {
            return;
        }
        let ts = e.timestamp_ms;
        self.enqueue(e, ts, false);
    }

    /// The run is over and `latest` is its final reading: queue it (with a
    /// timestamp after every one sent), or mark it final if it is the
    /// reading already queued.
    pub(crate) fn finish(&mut self, latest: Option<Arc<Exposition>>) {
        if self.final_known {
            return;
        }
        self.final_known = true;
        let latest = latest.or_else(|| self.last.as_ref().map(|l| l.reading.clone()));
        let Some(e) = latest else {
            // No reading was ever published: nothing to send.
            self.done = true;
            return;
        };
        if let Some(last) = &self.last
            && Arc::ptr_eq(&last.reading, &e)
        {
            let id = last.id;
            if self.accepted == Some(id) {
                self.report.final_sent = true;
                self.done = true;
                return;
            }
            if self.rejected == Some(id) {
                // The same reading again would be refused again.
                self.done = true;
                return;
            }
            if self.queue.mark_final(id) {
                return;
            }
            if let Some(f) = self.in_flight.as_mut().filter(|f| f.item.id == id) {
                f.item.is_final = true;
                return;
            }
        }
        let ts = match &self.last {
            Some(last) => e.timestamp_ms.max(last.timestamp_ms.saturating_add(1)),
            None => e.timestamp_ms,
        };
        self.enqueue(e, ts, true);
        // A reading in flight is given up on: the final one carries its
        // counts, and must not wait behind a slow answer. One that already
        // failed counts as failed; a first attempt as dropped.
        if let Some(f) = self.in_flight.as_ref().filter(|f| !f.item.is_final) {
            if f.failures > 0 {
                self.give_up_in_flight();
            } else if self.in_flight.take().is_some() {
                self.report.dropped = self.report.dropped.saturating_add(1);
            }
        }
    }

    fn give_up_in_flight(&mut self) {
        if self.in_flight.take().is_some() {
            self.report.failed = self.report.failed.saturating_add(1);
        }
    }

    /// The next reading to send, if none is in flight; `budget` is the
    /// time left before the deadline and `per_send` what a send took last:
    /// older readings are dropped while the rest would not fit.
    pub(crate) fn next(
        &mut self,
        budget: Option<Duration>,
        per_send: Duration,
    ) -> Option<&InFlight> {
        if self.in_flight.is_none() {
            if let Some(budget) = budget.filter(|_| self.final_known) {
                while let Some(front) = self.queue.front() {
                    let pending = u32::try_from(self.queue.len()).unwrap_or(u32::MAX);
                    // This one, the ones after it and the final one.
                    let need = per_send.saturating_mul(pending);
                    if front.is_final || need <= budget {
                        break;
                    }
                    let _ = self.queue.pop_front();
                    self.report.dropped = self.report.dropped.saturating_add(1);
                }
            }
            self.in_flight = self.queue.pop_front().map(|item| InFlight {
                item,
                failures: 0,
                last_failure: None,
            });
        }
        self.in_flight.as_ref()
    }

    /// The answer to the reading in flight. Returns the delay before the
    /// next attempt of the same reading, if it is to be retried.
    pub(crate) fn answer(&mut self, answer: Answer, jitter: f64) -> Option<Duration> {
        let f = self.in_flight.as_mut()?;
        match answer {
            Answer::Accepted => {
                self.report.sent = self.report.sent.saturating_add(1);
                self.report.samples = self.report.samples.saturating_add(f.item.samples);
                self.accepted = Some(f.item.id);
                if f.item.is_final {
                    self.report.final_sent = true;
                    self.done = true;
                }
                self.in_flight = None;
                None
            }
            Answer::Reject(why) => {
                self.report.failed = self.report.failed.saturating_add(1);
                self.report.last_error = Some(why);
                self.rejected = Some(f.item.id);
                if f.item.is_final {
                    self.done = true;
                }
                self.in_flight = None;
                None
            }
            Answer::Retry(why) => {
                self.report.last_error = Some(why.clone());
                if self.final_known && !f.item.is_final {
                    // Short of time at the end: straight to the final one.
                    self.give_up_in_flight();
                    let dropped = self.queue.drop_all_but_final();
                    self.report.dropped = self.report.dropped.saturating_add(dropped);
                    return None;
                }
                let delay = backoff(f.failures, jitter);
                f.failures = f.failures.saturating_add(1);
                f.last_failure = Some(why);
                self.report.retries = self.report.retries.saturating_add(1);
                Some(delay)
            }
        }
    }

    /// The deadline passed: everything unsent is given up on.
    pub(crate) fn deadline(&mut self, deadline: Duration) {
        if self.done {
            return;
        }
        self.done = true;
        let in_flight = self.in_flight.take();
        let final_in_flight = in_flight.as_ref().is_some_and(|f| f.item.is_final);
        if in_flight.is_some() {
            self.report.failed = self.report.failed.saturating_add(1);
        }
        let queued = self.queue.len() as u64;
        let _ = self.queue.drop_all_but_final();
        let final_queued = u64::from(self.queue.pop_front().is_some());
        self.report.failed = self.report.failed.saturating_add(final_queued);
        self.report.dropped = self
            .report
            .dropped
            .saturating_add(queued.saturating_sub(final_queued));
        let why = in_flight
            .and_then(|f| f.last_failure)
            .filter(|_| final_in_flight);
        self.report.last_error = Some(match (why, self.final_known) {
            (Some(why), _) => why,
            (None, true) => format!(
                "the final reading was not accepted within {}",
                humantime::format_duration(deadline)
            ),
            (None, false) => format!(
                "the run published no final reading within {}",
                humantime::format_duration(deadline)
            ),
        });
    }

    pub(crate) fn report(&self) -> &RemoteWriteReport {
        &self.report
    }
}

/// What sends a request.
#[derive(Clone)]
struct Io {
    client: reqwest::Client,
    target: Target,
    timeout: Duration,
}

/// One error with its sources, `: `-separated.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        next = s.source();
    }
    out
}

impl Io {
    async fn send(self, body: Vec<u8>, delay: Option<Duration>) -> (Answer, Duration) {
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        let started = Instant::now();
        let mut req = self
            .client
            .post(&self.target.url)
            .timeout(self.timeout)
            .header(reqwest::header::CONTENT_ENCODING, CONTENT_ENCODING)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(VERSION_HEADER, VERSION)
            .body(body);
        req = match &self.target.auth {
            Auth::None => req,
            Auth::Basic { user, password } => req.basic_auth(user, Some(password)),
            Auth::Bearer(token) => req.bearer_auth(token),
        };
        let answer = match req.send().await {
            Err(e) if e.is_timeout() => Answer::Retry(format!(
                "no answer within {}: {}",
                humantime::format_duration(self.timeout),
                chain(&e)
            )),
            Err(e) => Answer::Retry(chain(&e)),
            Ok(mut resp) => {
                let status = resp.status();
                match verdict(status.as_u16()) {
                    Verdict::Accepted => Answer::Accepted,
                    v => {
                        let mut body = Vec::new();
                        while body.len() < BODY_LIMIT {
                            match resp.chunk().await {
                                Ok(Some(c)) => body.extend_from_slice(&c),
                                _ => break,
                            }
                        }
                        body.truncate(BODY_LIMIT);
                        let text = String::from_utf8_lossy(&body);
                        let why = status_error(status.as_u16(), status.canonical_reason(), &text);
                        if v == Verdict::Retry {
                            Answer::Retry(why)
                        } else {
                            Answer::Reject(why)
                        }
                    }
                }
            }
        };
        (answer, started.elapsed())
    }
}

type Sending = Pin<Box<dyn Future<Output = (Answer, Duration)> + Send>>;

async fn maybe(f: &mut Option<Sending>) -> (Answer, Duration) {
    match f {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn run(io: Io, mut state: State, interval: Duration, mut ch: Channels) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut deadline: Option<(Instant, Duration)> = None;
    let mut sending: Option<Sending> = None;
    // How long the last send took: what the end's budget plans with.
    let mut per_send = Duration::ZERO;
    // A final reading set before the task first looked.
    if *ch.finished.borrow() {
        state.finish(ch.readings.borrow().clone());
    }
    let mut finished_open = true;
    let mut stop_open = true;
    loop {
        if state.done {
            break;
        }
        if sending.is_none() {
            let budget = deadline.map(|(at, _)| at.saturating_duration_since(Instant::now()));
            if let Some(f) = state.next(budget, per_send) {
                let body = f.item.body.clone();
                sending = Some(Box::pin(io.clone().send(body, None)));
            }
        }
        let _ = ch.report.send_replace(state.report().clone());
        tokio::select! {
            biased;
            _ = until(deadline.map(|(at, _)| at)) => {
                sending = None;
                if let Some((_, d)) = deadline {
                    state.deadline(d);
                }
            }
            r = ch.stop.changed(), if stop_open && deadline.is_none() => {
                match r {
                    Ok(()) => deadline = *ch.stop.borrow_and_update(),
                    Err(_) => {
                        stop_open = false;
                        deadline = Some((Instant::now(), Duration::ZERO));
                    }
                }
                // The run is over, finished or not.
                if deadline.is_some() {
                    state.finish(ch.readings.borrow().clone());
                    if state.in_flight_is_none() {
                        sending = None;
                    }
                }
            }
            r = ch.finished.changed(), if finished_open && !state.final_known() => {
                let over = match r {
                    Ok(()) => *ch.finished.borrow_and_update(),
                    Err(_) => {
                        finished_open = false;
                        true
                    }
                };
                if over {
                    state.finish(ch.readings.borrow().clone());
                    if state.in_flight_is_none() {
                        sending = None;
                    }
                }
            }
            (answer, took) = maybe(&mut sending) => {
                sending = None;
                if answer == Answer::Accepted {
                    per_send = took;
                }
                if let Some(delay) = state.answer(answer, rand::random::<f64>())
                    && let Some(f) = state.in_flight()
                {
                    let body = f.item.body.clone();
                    sending = Some(Box::pin(io.clone().send(body, Some(delay))));
                }
            }
            _ = tick.tick(), if !state.final_known() => {
                state.tick(ch.readings.borrow().clone());
            }
        }
    }
    let _ = ch.report.send_replace(state.report().clone());
}

impl State {
    fn final_known(&self) -> bool {
        self.final_known
    }

    fn in_flight_is_none(&self) -> bool {
        self.in_flight.is_none()
    }

    fn in_flight(&self) -> Option<&InFlight> {
        self.in_flight.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(ts: i64) -> Arc<Exposition> {
        let m = crate::metrics::ClientMetrics::new("r", &[], "h:1", Vec::new());
        Arc::new(m.exposition(ts, &crate::metrics::Gauges::default()))
    }

    fn state(max: usize) -> State {
        State::new(
            max,
            RemoteWriteReport {
                url: "http://h/w".into(),
                sent: 0,
                samples: 0,
                failed: 0,
                retries: 0,
                dropped: 0,
                final_sent: false,
                last_error: None,
            },
        )
    }

    fn next_ts(s: &mut State, budget: Option<Duration>, per: Duration) -> Option<(i64, bool)> {
        s.next(budget, per)
            .map(|f| (f.item.timestamp_ms, f.item.is_final))
    }

    #[test]
    fn only_newer_readings_are_queued_and_the_oldest_dropped() {
        let mut s = state(2);
        let r1 = reading(10);
        s.tick(Some(r1.clone()));
        s.tick(Some(r1.clone()));
        s.tick(Some(reading(10)));
        s.tick(Some(reading(5)));
        s.tick(None);
        assert_eq!(s.queue.len(), 1);
        s.tick(Some(reading(20)));
        s.tick(Some(reading(30)));
        assert_eq!(s.report().dropped, 1);
        assert_eq!(next_ts(&mut s, None, Duration::ZERO), Some((20, false)));
    }

    #[test]
    fn retries_back_off_and_the_final_reading_comes_last() {
        let mut s = state(8);
        s.tick(Some(reading(10)));
        assert_eq!(next_ts(&mut s, None, Duration::ZERO), Some((10, false)));
        let d1 = s.answer(Answer::Retry("HTTP 503".into()), 1.0);
        assert_eq!(d1, Some(Duration::from_millis(100)));
        let d2 = s.answer(Answer::Retry("HTTP 503".into()), 1.0);
        assert_eq!(d2, Some(Duration::from_millis(200)));
        assert_eq!(s.report().retries, 2);
        s.tick(Some(reading(20)));
        // The final reading has the same timestamp as the last queued one:
        // it goes one millisecond later, never out of order.
        s.finish(Some(reading(20)));
        assert_eq!(s.report().failed, 1, "the retrying reading is given up");
        assert_eq!(next_ts(&mut s, None, Duration::ZERO), Some((20, false)));
        assert_eq!(s.answer(Answer::Accepted, 0.0), None);
        assert_eq!(next_ts(&mut s, None, Duration::ZERO), Some((21, true)));
        assert_eq!(s.answer(Answer::Accepted, 0.0), None);
        assert!(s.done && s.report().final_sent);
        assert_eq!(s.report().sent, 2);
        assert_eq!(s.report().last_error.as_deref(), Some("HTTP 503"));
    }

    #[test]
    fn at_the_end_older_readings_give_way_to_the_final_one() {
        let mut s = state(8);
        for ts in 1..=5 {
            s.tick(Some(reading(ts)));
        }
        s.finish(Some(reading(6)));
        // 1 s left, a send takes 300 ms: the final and two more fit.
        let per = Duration::from_millis(300);
        let budget = Some(Duration::from_secs(1));
        assert_eq!(next_ts(&mut s, budget, per), Some((4, false)));
        assert_eq!(s.report().dropped, 3);
        // A failure now goes straight to the final reading.
        assert_eq!(s.answer(Answer::Retry("refused".into()), 0.5), None);
        assert_eq!(s.report().dropped, 4);
        assert_eq!(s.report().failed, 1);
        assert_eq!(next_ts(&mut s, budget, per), Some((6, true)));
        // The final reading is retried until the deadline.
        assert!(s.answer(Answer::Retry("refused".into()), 0.5).is_some());
        s.deadline(Duration::from_secs(1));
        assert!(s.done && !s.report().final_sent);
        assert_eq!(s.report().failed, 2);
        assert_eq!(s.report().last_error.as_deref(), Some("refused"));
    }

    #[test]
    fn a_final_reading_already_queued_or_sent_is_not_sent_twice() {
        let mut s = state(8);
        let r = reading(10);
        s.tick(Some(r.clone()));
        s.finish(Some(r.clone()));
        assert_eq!(next_ts(&mut s, None, Duration::ZERO), Some((10, true)));
        let mut s = state(8);
        s.tick(Some(r.clone()));
        assert!(s.next(None, Duration::ZERO).is_some());
        assert_eq!(s.answer(Answer::Accepted, 0.0), None);
        s.finish(Some(r));
        assert!(s.done && s.report().final_sent);
        let mut s = state(8);
        s.finish(None);
        assert!(s.done && !s.report().final_sent);
        let mut s = state(8);
        s.tick(Some(reading(3)));
        assert!(s.next(None, Duration::ZERO).is_some());
        assert_eq!(s.answer(Answer::Reject("HTTP 400".into()), 0.0), None);
        s.finish(Some(reading(4)));
        assert_eq!(next_ts(&mut s, None, Duration::ZERO), Some((4, true)));
        assert_eq!(s.answer(Answer::Reject("HTTP 400".into()), 0.0), None);
        assert!(s.done && !s.report().final_sent);
        assert_eq!((s.report().failed, s.report().retries), (2, 0));
        // The reading refused is the final one: not sent again.
        let mut s = state(8);
        let r = reading(3);
        s.tick(Some(r.clone()));
        assert!(s.next(None, Duration::ZERO).is_some());
        assert_eq!(s.answer(Answer::Reject("HTTP 400".into()), 0.0), None);
        s.finish(Some(r));
        assert!(s.done && !s.report().final_sent);
        assert!(s.next(None, Duration::ZERO).is_none());
        assert_eq!(s.report().failed, 1);
        let mut s = state(8);
        s.tick(Some(reading(3)));
        s.finish(Some(reading(4)));
        assert_eq!(next_ts(&mut s, None, Duration::ZERO), Some((3, false)));
        assert_eq!(s.answer(Answer::Accepted, 0.0), None);
        assert_eq!(next_ts(&mut s, None, Duration::ZERO), Some((4, true)));
        assert_eq!(s.answer(Answer::Accepted, 0.0), None);
        assert!(s.done && s.report().final_sent);
        assert_eq!((s.report().sent, s.report().failed), (2, 0));
    }
}
