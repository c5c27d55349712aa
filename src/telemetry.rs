//! Logging through `tracing`. The filter comes from `TESSERA_LOG` (else `RUST_LOG`, else `info`).
//! No code path logs a secret: tokens, secrets and passwords are held in types that redact
//! themselves, handlers are instrumented with `skip_all`, and request logs show only the path.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = std::env::var("TESSERA_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
