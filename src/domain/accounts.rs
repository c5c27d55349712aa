//! Users and album memberships: adding, granting, disabling and deleting (the operator's CLI
//! and the admin API).

use super::caller::{MAX_NAME_LEN, MAX_PASSWORD_LEN};
use super::{AppState, Error};
use crate::model::{AlbumId, Permissions};
use crate::store::users::{self, User};
use crate::store::{albums, refresh_tokens, Event, StoreError, Write};

/// Validates a user name: 1 to 64 characters of letters, digits, `.`, `_`, `-` and `@`.
pub fn parse_user_name(name: &str) -> Result<&str, Error> {
    let ok = (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
    if ok {
        Ok(name)
    } else {
        Err(Error::InvalidRequest(
            "user names are 1 to 64 characters of letters, digits, '.', '_', '-' and '@'".into(),
        ))
    }
}

pub async fn add_user(
    state: &AppState,
    name: &str,
    password: &str,
    admin: bool,
) -> Result<User, Error> {
    parse_user_name(name)?;
    if password.is_empty() || password.len() > MAX_PASSWORD_LEN {
        return Err(Error::InvalidRequest(format!(
            "the password must be 1 to {MAX_PASSWORD_LEN} bytes"
        )));
    }
    // See `clients::register`: user names and client ids must not meet in `sub`.
    if crate::store::clients::find(&state.db, name)
        .await?
        .is_some()
        || name == crate::model::BUILTIN_PUBLIC_CLIENT
    {
        return Err(Error::Conflict(format!(
            "a client with id {name} exists; user names and client ids share the access token's sub claim"
        )));
    }
    if users::find_by_name(&state.db, name)
        .await?
        .is_some_and(|u| u.deleted_at.is_some())
    {
        return Err(Error::Conflict(format!(
            "user {name} was deleted; names of deleted users are not reused (old access tokens name them)"
        )));
    }
    let hash = state.passwords.admit()?.hash(password.to_string()).await?;
    let now = state.clock.now();
    let w = state.db.write().await?;
    let made = users::create(&w, name, &hash, admin, now).await;
    let event = Event {
        at: now,
        actor: "operator",
        action: "user.create",
        target: &format!("user:{name}"),
        detail: serde_json::json!({ "admin": admin }),
    };
    created(w, made, || format!("user {name} already exists"), event).await
}

pub async fn add_album(
    state: &AppState,
    id: &str,
    name: Option<&str>,
) -> Result<albums::Album, Error> {
    let album = AlbumId::parse(id).map_err(|e| Error::InvalidRequest(e.to_string()))?;
    let name = name.unwrap_or(id);
    if name.is_empty() || name.len() > 200 {
        return Err(Error::InvalidRequest(
            "album names are 1 to 200 characters".into(),
        ));
    }
    let now = state.clock.now();
    let w = state.db.write().await?;
    let made = albums::create(&w, album.as_str(), name, now).await;
    let event = Event {
        at: now,
        actor: "operator",
        action: "album.create",
        target: &format!("album:{id}"),
        detail: serde_json::json!({ "name": name }),
    };
    created(w, made, || format!("album {id} already exists"), event).await
}

/// Ends a creation: a unique-key refusal becomes a 409 with `conflict`'s message (and the
/// transaction rolls back); otherwise the audit row is written and everything committed.
async fn created<T>(
    w: Write,
    made: Result<T, StoreError>,
    conflict: impl FnOnce() -> String,
    event: Event<'_>,
) -> Result<T, Error> {
    let made = made.map_err(|e| match e {
        StoreError::Conflict => Error::Conflict(conflict()),
        other => other.into(),
    })?;
    w.audit(event).await?;
    w.commit().await?;
    Ok(made)
}

/// Sets a user's permissions on an album, replacing what they had (`none` removes them).
pub async fn grant_album(
    state: &AppState,
    album: &str,
    user: &str,
    perms: &str,
) -> Result<Permissions, Error> {
    let perms = Permissions::parse_list(perms).map_err(|e| Error::InvalidRequest(e.to_string()))?;
    albums::find(&state.db, album)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no album {album}")))?;
    let u = users::find_by_name(&state.db, user)
        .await?
        .filter(|u| u.deleted_at.is_none())
        .ok_or_else(|| Error::NotFound(format!("no user {user}")))?;
    let now = state.clock.now();
    let w = state.db.write().await?;
    albums::set_permissions(&w, album, u.id, &perms.to_list(), now).await?;
    w.audit(Event {
        at: now,
        actor: "operator",
        action: "album.grant",
        target: &format!("album:{album}"),
        detail: serde_json::json!({ "user": user, "permissions": perms.to_list() }),
    })
    .await?;
    w.commit().await?;
    Ok(perms)
}

/// The caller's permissions on an album (empty if not a member or no such album).
pub async fn album_permissions(
    state: &AppState,
    user_id: i64,
    album: &str,
) -> Result<Permissions, Error> {
    let Ok(id) = AlbumId::parse(album) else {
        return Ok(Permissions::none());
    };
    let held = albums::permissions_on(&state.db, user_id, &[&id]).await?;
    Ok(held.get(&id).copied().unwrap_or_default())
}

/// Disables or re-enables a user. While disabled, the user's password is refused, their refresh
/// tokens do not exchange, and every token of theirs introspects inactive; nothing is deleted or
/// revoked, so re-enabling brings back exactly the tokens that were live before (unless they
/// expired or were revoked in between). Returns the user after the change.
pub async fn set_disabled(
    state: &AppState,
    actor: &str,
    name: &str,
    disabled: bool,
) -> Result<User, Error> {
    let now = state.clock.now();
    let txn = state.db.write().await?;
    let user = live_user_locked(&txn, name).await?;
    if user.disabled_at.is_some() == disabled {
        // Already as asked: nothing changes, nothing is audited.
        txn.rollback().await?;
        return Ok(user);
    }
    let at = disabled.then_some(now);
    users::set_disabled(&txn, user.id, at).await?;
    txn.audit(Event {
        at: now,
        actor,
        action: if disabled {
            "user.disable"
        } else {
            "user.enable"
        },
        target: &format!("user:{name}"),
        detail: serde_json::json!({}),
    })
    .await?;
    txn.commit().await?;
    Ok(User {
        disabled_at: at,
        ..user
    })
}

/// Deletes a user: revokes every token of theirs (and everything created under them), removes
/// their album memberships and password, and leaves a tombstone row, so the audit trail keeps
/// meaning and the name is never given to someone else (old access tokens name it in `sub`).
/// Returns how many live tokens were revoked.
pub async fn delete_user(state: &AppState, actor: &str, name: &str) -> Result<usize, Error> {
    let now = state.clock.now();
    let txn = state.db.write().await?;
    let user = live_user_locked(&txn, name).await?;
    let revoked =
        refresh_tokens::revoke_families(&txn, refresh_tokens::Roots::User(user.id), now).await?;
    albums::remove_all_of_user(&txn, user.id).await?;
    users::mark_deleted(&txn, user.id, now).await?;
    txn.audit(Event {
        at: now,
        actor,
        action: "user.delete",
        target: &format!("user:{name}"),
        detail: serde_json::json!({ "revoked": revoked }),
    })
    .await?;
    txn.commit().await?;
    state.metrics.revoked(revoked.len() as u64);
    Ok(revoked.len())
}

/// The user named `name`, not deleted, with its row locked for the transaction.
async fn live_user_locked(txn: &Write, name: &str) -> Result<User, Error> {
    let not_found = || Error::NotFound(format!("no user {name}"));
    let found = users::find_by_name(txn, name)
        .await?
        .filter(|u| u.deleted_at.is_none())
        .ok_or_else(not_found)?;
    users::lock(txn, found.id)
        .await?
        .filter(|u| u.deleted_at.is_none())
        .ok_or_else(not_found)
}
