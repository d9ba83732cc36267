//! Retrying what may succeed later: an HDFS namenode restarting, a datanode
//! gone, a full disk being cleared.
//!
//! An error enters as a [`Transient`] value that says whether trying again
//! can help; [`Retry::run`] repeats an operation with exponential backoff
//! while it can, logging every retry, and hands back the last error when it
//! gives up. It never drops the work: operations given to it are idempotent
//! (a put to a temporary name, a rename), and the lake writer keeps every
//! sealed file until it is in place.

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::time::{Duration, Instant};

/// An error that knows whether trying again can help.
pub trait Transient: std::fmt::Display {
    fn is_transient(&self) -> bool;
}

/// Backoff for transient failures: `first_delay`, doubling up to
/// `max_delay`, until `give_up_after` has passed (never, if `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub give_up_after: Option<Duration>,
}

impl Default for Retry {
    /// Rides out a namenode failover or restart (tens of seconds), then
    /// reports the error so the pipeline can stop consuming and say why.
    fn default() -> Self {
        Retry {
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            give_up_after: Some(Duration::from_secs(120)),
        }
    }
}

impl Retry {
    /// No retries: the first error is returned.
    pub fn never() -> Retry {
        Retry {
            first_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            give_up_after: Some(Duration::ZERO),
        }
    }

    /// Runs `op` until it succeeds, fails for good, or the time is up.
    pub async fn run<T, E, F, Fut>(&self, what: &str, mut op: F) -> Result<T, E>
    where
        E: Transient,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let started = Instant::now();
        let mut delay = self.first_delay;
        let mut attempt: u32 = 1;
        loop {
            match op().await {
                Ok(value) => {
                    if attempt > 1 {
                        tracing::info!(what, attempt, "Succeeded after retrying.");
                    }
                    return Ok(value);
                }
                Err(error) => {
                    let in_time = self
                        .give_up_after
                        .is_none_or(|limit| started.elapsed() + delay <= limit);
                    if !error.is_transient() || !in_time {
                        if attempt > 1 {
                            tracing::error!(what, attempt, %error, "Giving up after retrying.");
                        }
                        return Err(error);
                    }
                    tracing::warn!(
                        what,
                        attempt,
                        retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        %error,
                        "Failed; retrying."
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.max_delay);
                    attempt += 1;
                }
            }
        }
    }
}

/// Whether an object store error may go away by itself. Permissions, bad
/// paths and missing files do not; network trouble, HDFS failovers, safe
/// mode and full disks may.
pub(super) fn is_transient_store_error(error: &object_store::Error) -> bool {
    use object_store::Error as E;
    match error {
        E::JoinError { .. } => true,
        E::Generic { source, .. } => transient_source(source.as_ref()),
        _ => false,
    }
}

fn transient_source(error: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(hdfs) = e.downcast_ref::<hdfs_native::HdfsError>() {
            return is_transient_hdfs_error(hdfs);
        }
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return is_transient_io_error(io);
        }
        next = e.source();
    }
    false
}

fn is_transient_hdfs_error(error: &hdfs_native::HdfsError) -> bool {
    use hdfs_native::HdfsError as H;
    match error {
        // Talking to the cluster failed: the namenode or a datanode is down,
        // restarting or unreachable.
        H::IOError(_)
        | H::DataTransferError(_)
        | H::ChecksumError
        | H::BlocksNotFound(_)
        | H::FatalRPCError(..)
        | H::InvalidRPCResponse(_) => true,
        H::RPCError(class, _) => [
            "org.apache.hadoop.ipc.StandbyException",
            "org.apache.hadoop.ipc.RetriableException",
            "org.apache.hadoop.ipc.ObserverRetryOnActiveException",
            "org.apache.hadoop.hdfs.server.namenode.SafeModeException",
            "org.apache.hadoop.hdfs.server.namenode.NotReplicatedYetException",
        ]
        .contains(&class.as_str()),
        _ => false,
    }
}

pub(super) fn is_transient_io_error(error: &io::Error) -> bool {
    use io::ErrorKind as K;
    matches!(
        error.kind(),
        K::ConnectionRefused
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::NotConnected
            | K::BrokenPipe
            | K::TimedOut
            | K::Interrupted
            | K::WouldBlock
            | K::UnexpectedEof
            | K::HostUnreachable
            | K::NetworkUnreachable
            | K::NetworkDown
            | K::AddrNotAvailable
            | K::StorageFull
            | K::QuotaExceeded
            | K::ResourceBusy
    )
}
