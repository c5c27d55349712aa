//! Cleanup: deletes, in small batches, refresh-token rows past expiry, revocation or rotation
//! plus the retention period, and revoked access-token ids past their token's expiry. A live
//! token is never touched: every condition is on a time already past.

use std::time::Duration;

use super::Error;
use crate::domain::AppState;
use crate::store::{refresh_tokens, revoked_access_tokens};

#[derive(Debug, Default, serde::Serialize)]
pub struct Collected {
    pub refresh_tokens: u64,
    pub revoked_access_tokens: u64,
}

/// One full pass, batch after batch, pausing briefly between batches so a big backlog does not
/// hold the database.
pub async fn run_once(state: &AppState) -> Result<Collected, Error> {
    let now = state.clock.now();
    // A rotated-away row must outlive the access tokens minted from it (up to the rotation grace
    // after rotation), or they would introspect inactive: never delete one sooner than that.
    // Expired and revoked rows have no live access token left, so the retention alone applies.
    let s = &state.settings;
    let retention = s.revoked_retention.to_chrono();
    let cutoff = now - retention;
    let rotated_cutoff =
        now - retention.max(s.access_token_ttl.to_chrono() + s.rotation_grace.to_chrono());
    let batch = u64::from(state.settings.gc_batch_size);
    let mut out = Collected::default();
    loop {
        let n = refresh_tokens::delete_stale(&state.db, cutoff, rotated_cutoff, batch).await?;
        out.refresh_tokens += n;
        if n < batch {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    loop {
        let n = revoked_access_tokens::delete_expired(&state.db, now, batch).await?;
        out.revoked_access_tokens += n;
        if n < batch {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(out)
}

/// The background task of `serve`.
pub async fn run_forever(state: AppState) {
    let period = state
        .settings
        .gc_interval
        .to_std()
        .max(Duration::from_secs(1));
    loop {
        tokio::time::sleep(period).await;
        match run_once(&state).await {
            Ok(c) if c.refresh_tokens + c.revoked_access_tokens > 0 => {
                tracing::info!(
                    refresh_tokens = c.refresh_tokens,
                    revoked_access_tokens = c.revoked_access_tokens,
                    "gc deleted stale rows"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "gc pass failed; will retry"),
        }
    }
}
