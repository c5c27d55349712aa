//! Showing and revoking a token (its family and everything created under it), and revoking
//! every token of a user.

use super::{view, TokenView};
use crate::domain::accounts;
use crate::domain::caller::{Caller, Credential};
use crate::domain::{AppState, Error};
use crate::model::{Permission, RefreshToken, TokenKind};
use crate::store::{refresh_tokens, users, Event};

/// The head row of a token the caller may see and revoke. Anything else is "not found", so
/// ids of other users' tokens cannot be probed.
async fn visible(state: &AppState, caller: &Caller, id: &str) -> Result<RefreshToken, Error> {
    let not_found = || Error::NotFound(format!("no token {id}"));
    if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(not_found());
    }
    let row = refresh_tokens::find_head(&state.db, id)
        .await?
        .ok_or_else(not_found)?;
    if row.user_id == caller.user.id || caller.is_admin() {
        return Ok(row);
    }
    if let (Some(album), TokenKind::Album) = (&row.album_id, row.kind) {
        let held = accounts::album_permissions(state, caller.user.id, album).await?;
        if held.contains_raw(Permission::Admin) {
            return Ok(row);
        }
    }
    Err(not_found())
}

pub async fn show(state: &AppState, caller: &Caller, id: &str) -> Result<TokenView, Error> {
    let row = visible(state, caller, id).await?;
    let owner = users::find_by_id(&state.db, row.user_id)
        .await?
        .map(|u| u.name)
        .unwrap_or_default();
    Ok(view(row, &owner, state.clock.now()))
}

/// Revokes a token, its rotation family and every token created under it. Idempotent.
pub async fn revoke(state: &AppState, caller: &Caller, id: &str) -> Result<(), Error> {
    let row = visible(state, caller, id).await?;
    revoke_family(state, &caller.actor(), &row.family_id).await
}

/// Revokes a family and its descendants, with an audit record, in one transaction.
pub async fn revoke_family(state: &AppState, actor: &str, family_id: &str) -> Result<(), Error> {
    let now = state.clock.now();
    let txn = state.db.write().await?;
    let revoked =
        refresh_tokens::revoke_families(&txn, refresh_tokens::Roots::Family(family_id), now)
            .await?;
    if !revoked.is_empty() {
        txn.audit(Event {
            at: now,
            actor,
            action: "token.revoke",
            target: &format!("token:{family_id}"),
            detail: serde_json::json!({ "revoked": revoked }),
        })
        .await?;
    }
    txn.commit().await?;
    state.metrics.revoked(revoked.len() as u64);
    Ok(())
}

/// Revokes every token of a user (for someone leaving). Admins and operators only.
pub async fn revoke_all_of_user(state: &AppState, actor: &str, user: &str) -> Result<usize, Error> {
    let u = users::find_by_name(&state.db, user)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no user {user}")))?;
    let now = state.clock.now();
    let txn = state.db.write().await?;
    // Locking the user's row waits for (and then sees) any token being created for them.
    users::lock(&txn, u.id).await?;
    let revoked =
        refresh_tokens::revoke_families(&txn, refresh_tokens::Roots::User(u.id), now).await?;
    txn.audit(Event {
        at: now,
        actor,
        action: "token.revoke_all",
        target: &format!("user:{user}"),
        detail: serde_json::json!({ "revoked": revoked }),
    })
    .await?;
    txn.commit().await?;
    state.metrics.revoked(revoked.len() as u64);
    Ok(revoked.len())
}

/// A caller standing for the operator, for CLI commands acting on a named user.
pub async fn operator_as(state: &AppState, user: &str) -> Result<Caller, Error> {
    let u = users::find_by_name(&state.db, user)
        .await?
        .filter(|u| u.deleted_at.is_none())
        .ok_or_else(|| Error::NotFound(format!("no user {user}")))?;
    Ok(Caller {
        user: u,
        credential: Credential::Operator,
    })
}

/// `tessera token revoke ID`.
pub async fn operator_revoke(state: &AppState, id: &str) -> Result<(), Error> {
    refresh_tokens::find_head(&state.db, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no token {id}")))?;
    revoke_family(state, "operator", id).await
}
