//! Whether a new token may be made: the owner is enabled, the Bearer credential's refresh token
//! is live, and the quotas (`max_live_tokens_per_user`, `max_children_per_token`) are not
//! reached. Decided inside the transaction that inserts the token.

use chrono::{DateTime, Utc};

use super::create::parent_of;
use crate::domain::caller::Caller;
use crate::domain::{AppState, Error};
use crate::store::refresh_tokens::{self, Counted};
use crate::store::{users, Write};

/// Why a new token may not be made: the error for the caller and the audit detail.
pub(super) struct Refusal {
    pub(super) error: Error,
    pub(super) detail: serde_json::Value,
}

/// Decides, inside the transaction that will insert the token, whether it may be made: the
/// user is still enabled, the Bearer credential's refresh token is still unrevoked and
/// unexpired, and neither quota is reached. On PostgreSQL the user's row and one row of the
/// parent family are locked first (in that order, everywhere), so concurrent creations for one
/// user are counted one after the other, and a revocation of the parent either sees this token
/// or is seen by this check (see `refresh_tokens::revoke_families`). `Ok(Err(_))` is a refusal
/// that must be audited; `Err(_)` fails the request without an audit record.
pub(super) async fn admit(
    state: &AppState,
    txn: &Write,
    caller: &Caller,
    now: DateTime<Utc>,
) -> Result<Result<(), Refusal>, Error> {
    let user = users::lock(txn, caller.user.id)
        .await?
        .filter(|u| u.is_enabled())
        .ok_or_else(|| Error::Conflict(format!("user {} is disabled", caller.user.name)))?;
    let limit = state.settings.max_live_tokens_per_user;
    if refresh_tokens::count_live(txn, Counted::OfUser(user.id), now).await? >= u64::from(limit) {
        return Ok(Err(Refusal {
            error: Error::QuotaExceeded(format!(
                "user {} already has {limit} live tokens (max_live_tokens_per_user); revoke some first",
                user.name
            )),
            detail: serde_json::json!({ "quota": "max_live_tokens_per_user", "limit": limit }),
        }));
    }
    let Some(parent) = parent_of(caller) else {
        return Ok(Ok(()));
    };
    let parent_row = refresh_tokens::lock_unrevoked_row(txn, &parent)
        .await?
        .filter(|r| !r.is_expired(now))
        .ok_or_else(|| Error::Unauthenticated("access token has been revoked".into()))?;
    let limit = state.settings.max_children_per_token;
    if refresh_tokens::count_live(txn, Counted::ChildrenOf(&parent_row.family_id), now).await?
        >= u64::from(limit)
    {
        return Ok(Err(Refusal {
            error: Error::QuotaExceeded(format!(
                "token {parent} already has {limit} live tokens made with it (max_children_per_token)"
            )),
            detail: serde_json::json!({
                "quota": "max_children_per_token", "limit": limit, "parent_id": parent,
            }),
        }));
    }
    Ok(Ok(()))
}
