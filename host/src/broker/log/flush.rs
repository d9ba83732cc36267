//! When the log's bytes are forced to disk (`fsync`), as Kafka's
//! `log.flush.*` settings decide it. A produce is acknowledged once its
//! batch is written to the segment file, so a crashed *process* (kill -9)
//! loses nothing acknowledged under any policy; the policy decides what a
//! crashed *machine* (power loss, kernel panic) may lose.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The default: sync every second, what most databases' "normal" mode costs.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// Sync before each produce is acknowledged (concurrent produces to a
    /// partition share one sync). A machine crash loses nothing acknowledged.
    EveryRequest,
    /// Sync every partition written to, this often. A machine crash loses at
    /// most this much acknowledged data.
    Interval(Duration),
    /// Leave it to the operating system (Kafka's own default, which relies
    /// on replicas; the embedded broker has none).
    Never,
}

impl Default for FlushPolicy {
    fn default() -> Self {
        FlushPolicy::Interval(DEFAULT_FLUSH_INTERVAL)
    }
}

impl FromStr for FlushPolicy {
    type Err = String;

    /// `request`, `never`, or an interval such as `1s` or `200ms`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "request" | "every-request" => Ok(FlushPolicy::EveryRequest),
            "never" => Ok(FlushPolicy::Never),
            other => match humantime::parse_duration(other) {
                Ok(d) if !d.is_zero() => Ok(FlushPolicy::Interval(d)),
                _ => Err(format!(
                    "`{other}` is not a flush policy: use `request`, `never`, or an interval such as `1s` or `200ms`"
                )),
            },
        }
    }
}

impl fmt::Display for FlushPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlushPolicy::EveryRequest => f.write_str("request"),
            FlushPolicy::Never => f.write_str("never"),
            FlushPolicy::Interval(d) => write!(f, "{}", humantime::format_duration(*d)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_print_back() {
        for text in ["request", "never", "1s", "250ms"] {
            let policy: FlushPolicy = text.parse().unwrap();
            assert_eq!(policy.to_string(), text);
        }
        assert_eq!(FlushPolicy::default(), "1s".parse().unwrap());
        let error = "often".parse::<FlushPolicy>().unwrap_err();
        assert!(
            error.contains("request") && error.contains("often"),
            "{error}"
        );
        assert!("0s".parse::<FlushPolicy>().is_err());
    }
}
