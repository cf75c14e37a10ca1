//! The fault plan both wrappers share: what one call may suffer ([`Faults`], [`Timeout`]),
//! how a call's fate is drawn from it, and how a call is run under that fate.
//!
//! Per call, one of "error", "timeout", "error after success" or nothing is chosen with the
//! rates given (exclusive; past a sum of 1 the later ones lose); latency is added to every
//! call whatever else happens. The draws, in order: the jitter (only when it is not zero),
//! the roll that picks the fate, then whatever the wrapper picks for an error.

use crate::rng::SeededRng;
use std::future::Future;
use std::time::Duration;

/// How a call that hangs ends. See [`Faults::timeout_rate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout {
    /// How long the call hangs before it fails ("timed out": `InternalFailure` from
    /// `FaultyKinesis`, a storage error from `FaultyLeaseTable`); `None`: it never answers,
    /// until the caller drops its future (its own timeout).
    pub after: Option<Duration>,
    /// Whether the inner call is made (and completes) before hanging: the request was
    /// applied and its response lost. Otherwise the request never reached the service.
    pub applied: bool,
}

impl Timeout {
    /// Hangs for `after`, then fails; the request is not applied.
    pub fn fail_after(after: Duration) -> Timeout {
        Timeout {
            after: Some(after),
            applied: false,
        }
    }

    /// Never answers; the request is not applied. A caller without a timeout of its own
    /// (a worker's lease table calls, say) stalls on it.
    pub fn forever() -> Timeout {
        Timeout {
            after: None,
            applied: false,
        }
    }

    /// The same, but the inner call is made (and completes) before the hang.
    pub fn applied(mut self) -> Timeout {
        self.applied = true;
        self
    }
}

impl Default for Timeout {
    /// Hangs for 10 s, then fails; not applied.
    fn default() -> Self {
        Timeout::fail_after(Duration::from_secs(10))
    }
}

/// The faults of one operation or method (or of all of them), with `E` the kind of error
/// a wrapper can be told to inject ([`crate::InjectedError`] for `FaultyKinesis`;
/// [`std::convert::Infallible`] for `FaultyLeaseTable`, which always injects a storage
/// error).
#[derive(Debug, Clone, PartialEq)]
pub struct Faults<E> {
    /// Probability (0 to 1) that a call fails with one of [`errors`](Self::errors) without
    /// reaching the inner service.
    pub error_rate: f64,
    /// The errors injected, one picked at random for each injected failure (also for
    /// "error after success"). Empty: the wrapper's default (`InternalFailure`, or a
    /// storage error).
    pub errors: Vec<E>,
    /// Latency added before every call.
    pub latency: Duration,
    /// Random extra latency, uniform from zero to this, added to [`latency`](Self::latency).
    pub jitter: Duration,
    /// Probability (0 to 1) that a call hangs, as [`timeout`](Self::timeout) says.
    pub timeout_rate: f64,
    /// How hanging calls end.
    pub timeout: Timeout,
    /// Probability (0 to 1) that a call is made, succeeds (for a conditional write: is
    /// written, or its condition fails), and the caller gets an error anyway: the write
    /// happened but its response was lost. A call the inner service fails is returned as
    /// it is.
    pub error_after_success_rate: f64,
}

impl<E> Default for Faults<E> {
    fn default() -> Self {
        Faults {
            error_rate: 0.0,
            errors: Vec::new(),
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            timeout_rate: 0.0,
            timeout: Timeout::default(),
            error_after_success_rate: 0.0,
        }
    }
}

impl<E> Faults<E> {
    /// No faults.
    pub fn none() -> Faults<E> {
        Faults::default()
    }

    /// Fails calls with probability `rate`, with the wrapper's default error.
    pub fn with_error_rate(mut self, rate: f64) -> Faults<E> {
        self.error_rate = rate;
        self
    }

    /// Fails calls with probability `rate`, with errors picked from `errors`.
    pub fn with_errors(mut self, rate: f64, errors: impl IntoIterator<Item = E>) -> Faults<E> {
        self.error_rate = rate;
        self.errors = errors.into_iter().collect();
        self
    }

    /// Adds `latency` plus up to `jitter` to every call.
    pub fn with_latency(mut self, latency: Duration, jitter: Duration) -> Faults<E> {
        self.latency = latency;
        self.jitter = jitter;
        self
    }

    /// Hangs calls with probability `rate`, ending as `timeout` says.
    pub fn with_timeouts(mut self, rate: f64, timeout: Timeout) -> Faults<E> {
        self.timeout_rate = rate;
        self.timeout = timeout;
        self
    }

    /// Makes calls, then answers an error anyway, with probability `rate`.
    pub fn with_error_after_success(mut self, rate: f64) -> Faults<E> {
        self.error_after_success_rate = rate;
        self
    }

    /// Whether nothing at all is injected.
    pub(crate) fn is_none(&self) -> bool {
        self.error_rate <= 0.0
            && self.timeout_rate <= 0.0
            && self.error_after_success_rate <= 0.0
            && self.latency.is_zero()
            && self.jitter.is_zero()
    }

    /// Draws one call's latency and fate; `error` picks the error of a failing call.
    pub(crate) fn draw<X>(
        &self,
        rng: &mut SeededRng,
        mut error: impl FnMut(&mut SeededRng, &[E]) -> X,
    ) -> (Duration, Fate<X>) {
        let delay = self.latency + rng.up_to(self.jitter);
        let roll = rng.unit();
        let clamp = |p: f64| if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        let (e, t, s) = (
            clamp(self.error_rate),
            clamp(self.timeout_rate),
            clamp(self.error_after_success_rate),
        );
        let fate = if roll < e {
            Fate::Fail(error(rng, &self.errors))
        } else if roll < e + t {
            Fate::Hang(self.timeout)
        } else if roll < e + t + s {
            Fate::FailAfterSuccess(error(rng, &self.errors))
        } else {
            Fate::Pass
        };
        (delay, fate)
    }
}

/// What happens to one call; `X` is the error it fails with.
pub(crate) enum Fate<X> {
    /// Made as it is.
    Pass,
    /// Failed without being made.
    Fail(X),
    /// Hung (and perhaps made first).
    Hang(Timeout),
    /// Made, then failed anyway.
    FailAfterSuccess(X),
}

impl<X> Fate<X> {
    /// The same fate with its error made by `f` (given whether the call is made first).
    pub(crate) fn map<Y>(self, f: impl FnOnce(bool) -> Y) -> Fate<Y> {
        match self {
            Fate::Pass => Fate::Pass,
            Fate::Fail(_) => Fate::Fail(f(false)),
            Fate::Hang(t) => Fate::Hang(t),
            Fate::FailAfterSuccess(_) => Fate::FailAfterSuccess(f(true)),
        }
    }
}

/// Runs `call` after `delay` under `fate`. `timed_out` makes the error of a hang that ends;
/// `lost` is told when a call was made and its answer replaced by an error.
pub(crate) async fn run<T, X, Fut>(
    delay: Duration,
    fate: Fate<X>,
    call: impl FnOnce() -> Fut,
    timed_out: impl FnOnce(Duration) -> X,
    lost: impl FnOnce(),
) -> Result<T, X>
where
    Fut: Future<Output = Result<T, X>>,
{
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match fate {
        Fate::Pass => call().await,
        Fate::Fail(e) => Err(e),
        Fate::Hang(t) => {
            if t.applied {
                let _ = call().await;
            }
            match t.after {
                Some(after) => {
                    tokio::time::sleep(after).await;
                    Err(timed_out(after))
                }
                None => std::future::pending().await,
            }
        }
        Fate::FailAfterSuccess(e) => {
            let out = call().await?;
            drop(out);
            lost();
            Err(e)
        }
    }
}
