//! What the refresh grant reads and writes: the presented token with its owner, what the owner
//! holds now, the atomic rotation, and the revocation that answers a replay. The grant's
//! decisions are made in `oauth::grants::refresh_token`; this module only keeps the data right.

use chrono::{DateTime, Utc};

use super::{AppState, Error};
use crate::model::{Holdings, RefreshToken, Scope};
use crate::store::refresh_tokens::{self, Roots};
use crate::store::users::User;
use crate::store::{albums, Event};
use crate::tokens::secret::{public_id, Secret};

/// The token row with this secret hash and its owner (one query: the hottest path).
pub async fn presented(
    state: &AppState,
    secret: &Secret,
) -> Result<Option<(RefreshToken, User)>, Error> {
    Ok(refresh_tokens::find_by_hash_with_owner(&state.db, &secret.hash()).await?)
}

/// What `owner` holds now of the albums `scope` names, and the owner's admin flag.
pub async fn holdings(state: &AppState, owner: &User, scope: &Scope) -> Result<Holdings, Error> {
    let ids: Vec<_> = scope.albums().into_iter().collect();
    Ok(Holdings {
        is_admin: owner.is_admin,
        albums: albums::permissions_on(&state.db, owner.id, &ids).await?,
    })
}

/// Records that the token was used, at most once per row per `last_used_resolution`.
pub async fn note_use(
    state: &AppState,
    row: &RefreshToken,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    if state.should_touch(&row.id, now) {
        refresh_tokens::touch_last_used(&state.db, &row.id, now).await?;
    }
    Ok(())
}

/// How a rotation ended.
pub enum Rotation {
    /// `row` was the live head and has been replaced by this new token string.
    Rotated(Secret),
    /// A concurrent exchange rotated `row` first, within `rotation_grace`: answer with an
    /// access token only, so the family does not fork.
    Duplicate,
    /// `row` was revoked (or rotated too long ago) meanwhile.
    Gone,
}

/// Replaces `row` by a new token string, atomically: in one write transaction, a
/// compare-and-set marks `row` rotated only if it is still the live head, and only then the
/// successor is inserted, with the family's id, creation and expiry. The answer is sent only
/// after this committed.
pub async fn rotate(
    state: &AppState,
    row: &RefreshToken,
    now: DateTime<Utc>,
) -> Result<Rotation, Error> {
    let secret = Secret::generate(crate::tokens::secret::SecretKind::RefreshToken);
    let w = state.db.write().await?;
    if !refresh_tokens::mark_rotated(&w, &row.id, now).await? {
        w.rollback().await?;
        // Lost the race to a concurrent exchange of the same token.
        let current = refresh_tokens::find_by_row_id(&state.db, &row.id).await?;
        let grace = state.settings.rotation_grace.to_chrono();
        return Ok(match current {
            Some(c) if c.revoked_at.is_none() && c.rotated_at.is_some_and(|r| now - r <= grace) => {
                Rotation::Duplicate
            }
            _ => Rotation::Gone,
        });
    }
    refresh_tokens::insert(
        &w,
        // The successor keeps the family's id, name, scope, creation and expiry.
        RefreshToken {
            id: public_id(),
            secret_hash: secret.hash(),
            rotating: true,
            rotated_from_id: Some(row.id.clone()),
            last_used_at: Some(now),
            ..row.clone()
        },
    )
    .await?;
    w.commit().await?;
    Ok(Rotation::Rotated(secret))
}

/// Replay of a rotated token after the grace window: the token may be stolen, so the whole
/// family (and everything created under it) is revoked, and the event audited.
pub async fn reuse_detected(
    state: &AppState,
    row: &RefreshToken,
    client_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let w = state.db.write().await?;
    let revoked = refresh_tokens::revoke_families(&w, Roots::Family(&row.family_id), now).await?;
    w.audit(Event {
        at: now,
        actor: "tessera",
        action: "refresh_token.reuse_detected",
        target: &format!("token:{}", row.family_id),
        detail: serde_json::json!({
            "row": row.id,
            "client_id": client_id,
            "revoked_families": revoked,
        }),
    })
    .await?;
    w.commit().await?;
    state.metrics.reuse_detected();
    state.metrics.revoked(revoked.len() as u64);
    tracing::warn!(token = %row.family_id, "refresh token reuse detected; family revoked");
    Ok(())
}
