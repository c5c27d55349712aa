//! Logging through `tracing`. The filter comes from `TESSERA_LOG`, else `RUST_LOG`, else `info`
//! for `serve` and `warn` for every other command (their output is their JSON on stdout; at
//! `info` each one that opens the database would also print the migrator's two lines).
//! No code path logs a secret: tokens, secrets and passwords are held in types that redact
//! themselves, handlers are instrumented with `skip_all`, and request logs show only the path.
//!
//! Lines are formatted on the thread that logs them but written to stderr by a writer thread,
//! buffered and flushed whenever its queue runs empty: one request log line per request costs
//! no `write` system call on the request's path (measured: about 15 % of the token endpoint's
//! throughput with unbuffered stderr). The queue blocks rather than drops when full.

use std::io::BufWriter;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// Keep the guard until the process ends: dropping it flushes what is still queued.
/// `serving` is true for `tessera serve`.
#[must_use = "dropping the guard stops the log writer"]
pub fn init(serving: bool) -> Option<WorkerGuard> {
    let filter = filter(
        std::env::var("TESSERA_LOG").ok(),
        std::env::var("RUST_LOG").ok(),
        serving,
    );
    // A short queue: under load the writer thread shares the CPU with the requests, and the
    // default 128,000 queued lines (measured: 18 MB more peak RSS) only delay the backpressure.
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(4096)
        .lossy(false)
        .finish(BufWriter::new(std::io::stderr()));
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(writer)
        .with_target(false)
        .try_init()
        .ok()
        .map(|_| guard)
}

/// The filter directive: an explicit one wins, else the command's default.
fn filter(tessera_log: Option<String>, rust_log: Option<String>, serving: bool) -> String {
    tessera_log
        .or(rust_log)
        .unwrap_or_else(|| if serving { "info" } else { "warn" }.into())
}

#[cfg(test)]
mod tests {
    use super::filter;

    #[test]
    fn commands_other_than_serve_default_to_warnings() {
        assert_eq!(filter(None, None, true), "info");
        assert_eq!(filter(None, None, false), "warn");
    }

    #[test]
    fn an_explicit_filter_wins_for_every_command() {
        for serving in [true, false] {
            assert_eq!(
                filter(Some("debug".into()), Some("trace".into()), serving),
                "debug"
            );
            assert_eq!(filter(None, Some("trace".into()), serving), "trace");
        }
    }
}
