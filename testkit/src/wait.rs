//! [`wait_until`]: poll a condition until it holds, or give up at a deadline.
//!
//! Tests of concurrent systems wait for a state (every lease taken, every record processed)
//! rather than sleep for a guessed time: the condition is checked every
//! [`POLL_INTERVAL`], and a test that waits in vain fails with an error naming what it
//! waited for and for how long.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often [`wait_until`] checks its condition.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// A condition [`wait_until`] waited for did not hold in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timed out after {timeout:?} waiting for {what}")]
pub struct WaitTimeout {
    /// What was waited for (the `what` given to [`wait_until`]).
    pub what: String,
    /// How long it was waited for.
    pub timeout: Duration,
}

/// Awaits `cond` (checked at once, then every [`POLL_INTERVAL`]) until it returns `true`;
/// fails with [`WaitTimeout`] once `timeout` has passed without it. `what` names the
/// condition in the error.
///
/// The condition is awaited to completion each time; a condition that hangs hangs the
/// wait (bound it with `tokio::time::timeout` inside). Cancel safety: dropping the future
/// stops the polling.
///
/// ```
/// # async fn demo() -> Result<(), rill_testkit::WaitTimeout> {
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
///
/// let polls = AtomicU32::new(0);
/// rill_testkit::wait_until(Duration::from_secs(5), "three polls", || async {
///     polls.fetch_add(1, Ordering::Relaxed) >= 2
/// })
/// .await?;
/// let never = rill_testkit::wait_until(Duration::from_millis(50), "never", || async { false });
/// assert_eq!(
///     never.await.map_err(|e| e.to_string()),
///     Err("timed out after 50ms waiting for never".to_string())
/// );
/// # Ok(())
/// # }
/// # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
/// ```
pub async fn wait_until<F, Fut>(
    timeout: Duration,
    what: &str,
    mut cond: F,
) -> Result<(), WaitTimeout>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if cond().await {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(WaitTimeout {
                what: what.to_string(),
                timeout,
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
