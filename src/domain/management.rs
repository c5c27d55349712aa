//! Personal and album tokens: create (secret shown once), list, show, revoke, administer.
//! A token's public id is its family id; rotation changes the secret, never the id.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::accounts::{self, Caller, Credential};
use super::Error;
use crate::oauth::scope::{AlbumId, Permission, Scope, ScopeItem};
use crate::state::AppState;
use crate::store::refresh_tokens::{self, ListQuery, NewRefreshToken, RefreshToken, StatusFilter};
use crate::store::{albums, audit, clients, users, StoreError};
use crate::tokens::secret::{public_id, Secret, SecretKind};

pub const MAX_TOKEN_NAME: usize = 100;
pub const MAX_PAGE: u64 = 500;

/// A token as its owner (or an admin) sees it. Never the secret or its hash.
#[derive(Debug, Serialize)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub user: String,
    pub scope: String,
    pub rotating: bool,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub album_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
}

pub fn status(row: &RefreshToken, now: DateTime<Utc>) -> &'static str {
    if row.revoked_at.is_some() {
        "revoked"
    } else if row.expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    }
}

pub fn view(row: RefreshToken, user: &str, now: DateTime<Utc>) -> TokenView {
    let permissions = (row.kind == "album").then(|| {
        Scope::parse(&row.scope)
            .map(|s| {
                s.items()
                    .filter_map(|i| match i {
                        ScopeItem::Album { permission, .. } => Some(permission.as_str()),
                        ScopeItem::User | ScopeItem::Admin => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    });
    TokenView {
        status: status(&row, now),
        id: row.family_id,
        name: row.name,
        kind: row.kind,
        user: user.to_string(),
        scope: row.scope,
        rotating: row.rotating,
        created_at: row.created_at,
        expires_at: row.expires_at,
        last_used_at: row.last_used_at,
        revoked_at: row.revoked_at,
        album_id: row.album_id,
        permissions,
        client_id: row.client_id,
        parent_id: row.parent_id,
    }
}

/// A created token: its record and the secret, shown this once.
pub struct Created {
    pub view: TokenView,
    pub token: Secret,
}

/// When a new token expires, as the request asked.
#[derive(Clone, Copy, Debug)]
pub enum Expiry {
    Default,
    In(i64),
    At(DateTime<Utc>),
    Never,
}

pub struct NewPersonal {
    pub name: String,
    pub scope: String,
    pub expiry: Expiry,
    pub rotating: bool,
    /// Binds the token to this OAuth client (kind `client`; always rotating).
    pub client_id: Option<String>,
}

pub struct NewAlbumToken {
    pub name: String,
    pub permissions: Vec<String>,
    pub expiry: Expiry,
    pub rotating: bool,
}

fn check_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::InvalidRequest("name is required".into()));
    }
    if name.chars().count() > MAX_TOKEN_NAME {
        return Err(Error::InvalidRequest(format!(
            "name is longer than {MAX_TOKEN_NAME} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::InvalidRequest(
            "name contains control characters".into(),
        ));
    }
    Ok(name.to_string())
}

/// Resolves the requested expiry against the defaults, the maximum and the parent's expiry.
fn resolve_expiry(
    state: &AppState,
    expiry: Expiry,
    default_ttl: chrono::Duration,
    caller: &Caller,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, Error> {
    let max = state.settings.personal_token_max_ttl;
    let at = match expiry {
        Expiry::Default => Some(now + default_ttl),
        Expiry::In(secs) => {
            if secs <= 0 {
                return Err(Error::InvalidRequest(
                    "expires_in must be a positive number of seconds".into(),
                ));
            }
            if secs as u64 > max.as_secs() {
                return Err(Error::InvalidRequest(format!(
                    "expires_in is beyond the maximum token lifetime of {max} ({} seconds)",
                    max.as_secs()
                )));
            }
            Some(now + chrono::Duration::seconds(secs))
        }
        Expiry::At(t) => {
            if t <= now {
                return Err(Error::InvalidRequest("expires_at is in the past".into()));
            }
            if t - now > max.to_chrono() {
                return Err(Error::InvalidRequest(format!(
                    "expires_at is beyond the maximum token lifetime of {max}"
                )));
            }
            Some(t)
        }
        Expiry::Never => {
            if !state.settings.allow_non_expiring_tokens {
                return Err(Error::InvalidRequest(
                    "non-expiring tokens are disabled on this server (allow_non_expiring_tokens)"
                        .into(),
                ));
            }
            None
        }
    };
    // A token made with a Bearer credential never outlives the refresh token behind it.
    Ok(match (&caller.credential, at) {
        (
            Credential::Bearer {
                expires_at: Some(cap),
                ..
            },
            Some(t),
        ) => Some(t.min(*cap)),
        (
            Credential::Bearer {
                expires_at: Some(cap),
                ..
            },
            None,
        ) => Some(*cap),
        (_, t) => t,
    })
}

/// Checks that `scope` is within what the caller holds now: their album permissions, and for a
/// Bearer caller also the scope of their access token.
async fn check_within_caller(
    state: &AppState,
    caller: &Caller,
    scope: &Scope,
) -> Result<(), Error> {
    if let Credential::Bearer { scope: parent, .. } = &caller.credential {
        for item in scope.items() {
            let ok = parent.contains(item)
                || (parent.has_user() && matches!(item, ScopeItem::Album { .. }));
            if !ok {
                return Err(Error::InvalidScope(format!(
                    "{item} exceeds the scope of the credential making this token"
                )));
            }
        }
    }
    if scope.has_admin() && !caller.is_admin() {
        return Err(Error::InvalidScope(
            "admin can only be granted to a token of an admin".into(),
        ));
    }
    let ids: Vec<&str> = scope.albums().into_iter().map(AlbumId::as_str).collect();
    let held = albums::permissions_on(&state.db, caller.user.id, &ids).await?;
    for item in scope.items() {
        if let ScopeItem::Album { album, permission } = item {
            let perms = held
                .iter()
                .find(|(a, _)| a == album.as_str())
                .and_then(|(_, p)| crate::oauth::scope::Permissions::parse_list(p).ok())
                .unwrap_or_default();
            if !perms.allows(*permission) {
                return Err(Error::InvalidScope(format!("you do not hold {item}")));
            }
        }
    }
    Ok(())
}

fn parent_of(caller: &Caller) -> Option<String> {
    match &caller.credential {
        Credential::Password | Credential::Operator => None,
        Credential::Bearer { family_id, .. } => Some(family_id.clone()),
    }
}

struct Insert<'a> {
    kind: &'a str,
    name: String,
    scope: &'a Scope,
    album_id: Option<String>,
    client_id: Option<String>,
    rotating: bool,
    expires_at: Option<DateTime<Utc>>,
}

async fn insert_token(
    state: &AppState,
    caller: &Caller,
    t: Insert<'_>,
    now: DateTime<Utc>,
) -> Result<Created, Error> {
    let secret = Secret::generate(SecretKind::RefreshToken);
    let id = public_id();
    let _turn = state.sqlite_write_turn().await;
    let txn = crate::store::write_txn(&state.db).await?;
    if let Err(refusal) = admit(state, &txn, caller, now).await? {
        // The refusal is recorded (and committed) even though no token is made.
        audit::record(
            &txn,
            now,
            &caller.actor(),
            "token.quota_exceeded",
            &format!("user:{}", caller.user.name),
            refusal.detail,
        )
        .await?;
        txn.commit().await.map_err(StoreError::from)?;
        return Err(refusal.error);
    }
    let row = refresh_tokens::insert(
        &txn,
        NewRefreshToken {
            id: id.clone(),
            secret_hash: secret.hash(),
            kind: t.kind.to_string(),
            name: t.name,
            user_id: caller.user.id,
            client_id: t.client_id,
            album_id: t.album_id,
            scope: t.scope.to_string(),
            rotating: t.rotating,
            family_id: id.clone(),
            parent_id: parent_of(caller),
            rotated_from_id: None,
            created_at: now,
            expires_at: t.expires_at,
            last_used_at: None,
        },
    )
    .await?;
    audit::record(
        &txn,
        now,
        &caller.actor(),
        "token.create",
        &format!("token:{id}"),
        serde_json::json!({
            "kind": row.kind, "name": row.name, "scope": row.scope,
            "expires_at": row.expires_at, "parent_id": row.parent_id,
        }),
    )
    .await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(Created {
        view: view(row, &caller.user.name, now),
        token: secret,
    })
}

/// Why a new token may not be made: the error for the caller and the audit detail.
struct Refusal {
    error: Error,
    detail: serde_json::Value,
}

/// Decides, inside the transaction that will insert the token, whether it may be made: the
/// user is still enabled, the Bearer credential's refresh token is still unrevoked and
/// unexpired, and neither quota is reached. On PostgreSQL the user's row and one row of the
/// parent family are locked first (in that order, everywhere), so concurrent creations for one
/// user are counted one after the other, and a revocation of the parent either sees this token
/// or is seen by this check (see `refresh_tokens::revoke_families`). `Ok(Err(_))` is a refusal
/// that must be audited; `Err(_)` fails the request without an audit record.
async fn admit(
    state: &AppState,
    txn: &sea_orm::DatabaseTransaction,
    caller: &Caller,
    now: DateTime<Utc>,
) -> Result<Result<(), Refusal>, Error> {
    let user = users::lock(txn, caller.user.id)
        .await?
        .filter(|u| u.is_enabled())
        .ok_or_else(|| Error::Conflict(format!("user {} is disabled", caller.user.name)))?;
    let limit = state.settings.max_live_tokens_per_user;
    if refresh_tokens::count_live_of_user(txn, user.id, now).await? >= u64::from(limit) {
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
        .filter(|r| r.expires_at.is_none_or(|e| e > now))
        .ok_or_else(|| Error::Unauthenticated("access token has been revoked".into()))?;
    let limit = state.settings.max_children_per_token;
    if refresh_tokens::count_live_children(txn, &parent_row.family_id, now).await?
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

pub async fn create_personal(
    state: &AppState,
    caller: &Caller,
    req: NewPersonal,
) -> Result<Created, Error> {
    let now = state.clock.now();
    let name = check_name(&req.name)?;
    let scope = Scope::parse(&req.scope).map_err(|e| Error::InvalidScope(e.to_string()))?;
    check_within_caller(state, caller, &scope).await?;
    let expires_at = resolve_expiry(
        state,
        req.expiry,
        state.settings.personal_token_default_ttl.to_chrono(),
        caller,
        now,
    )?;
    let (kind, rotating) = match &req.client_id {
        Some(cid) => {
            // One answer for unknown and unsuitable clients, so client ids cannot be probed.
            let usable = clients::find(&state.db, cid)
                .await?
                .is_some_and(|c| c.grant_types.split(' ').any(|g| g == "refresh_token"));
            if !usable {
                return Err(Error::InvalidRequest(format!(
                    "client_id {cid:?} does not name a client registered for the refresh_token grant"
                )));
            }
            // Tokens held by an OAuth client always rotate (RFC 9700 §4.14.2).
            ("client", true)
        }
        None => ("personal", req.rotating),
    };
    insert_token(
        state,
        caller,
        Insert {
            kind,
            name,
            scope: &scope,
            album_id: None,
            client_id: req.client_id,
            rotating,
            expires_at,
        },
        now,
    )
    .await
}

pub async fn create_album_token(
    state: &AppState,
    caller: &Caller,
    album: &str,
    req: NewAlbumToken,
) -> Result<Created, Error> {
    let now = state.clock.now();
    let album_id = AlbumId::parse(album).map_err(|e| Error::InvalidRequest(e.to_string()))?;
    let held = visible_album(state, caller, &album_id).await?;
    let name = check_name(&req.name)?;
    if req.permissions.is_empty() {
        return Err(Error::InvalidRequest(
            "permissions must name at least one of read, write, download, share".into(),
        ));
    }
    let mut items = Vec::new();
    for p in &req.permissions {
        let perm: Permission = p
            .parse()
            .map_err(|e: crate::oauth::scope::ScopeError| Error::InvalidRequest(e.to_string()))?;
        if perm == Permission::Admin {
            return Err(Error::InvalidRequest(
                "admin cannot be granted to a token".into(),
            ));
        }
        items.push(ScopeItem::Album {
            album: album_id.clone(),
            permission: perm,
        });
    }
    let scope = Scope::parse(&Scope::from_items(items).to_string())
        .map_err(|e| Error::InvalidRequest(e.to_string()))?;
    if !held.allows(Permission::Share) {
        return Err(Error::Forbidden(format!(
            "creating album tokens needs share or admin on album {album_id}"
        )));
    }
    check_within_caller(state, caller, &scope)
        .await
        .map_err(|e| match e {
            Error::InvalidScope(d) => Error::Forbidden(d),
            other => other,
        })?;
    let expires_at = resolve_expiry(
        state,
        req.expiry,
        state.settings.album_token_default_ttl.to_chrono(),
        caller,
        now,
    )?;
    insert_token(
        state,
        caller,
        Insert {
            kind: "album",
            name,
            scope: &scope,
            album_id: Some(album_id.to_string()),
            client_id: None,
            rotating: req.rotating,
            expires_at,
        },
        now,
    )
    .await
}

pub fn parse_status(s: Option<&str>) -> Result<Option<StatusFilter>, Error> {
    match s {
        None | Some("") => Ok(None),
        Some("active") => Ok(Some(StatusFilter::Active)),
        Some("expired") => Ok(Some(StatusFilter::Expired)),
        Some("revoked") => Ok(Some(StatusFilter::Revoked)),
        Some(_) => Err(Error::InvalidRequest(
            "status must be active, expired or revoked".into(),
        )),
    }
}

pub struct Page {
    pub limit: u64,
    pub offset: u64,
}

impl Page {
    pub fn parse(limit: Option<u64>, offset: Option<u64>) -> Result<Self, Error> {
        let limit = limit.unwrap_or(50);
        if limit == 0 || limit > MAX_PAGE {
            return Err(Error::InvalidRequest(format!(
                "limit must be 1 to {MAX_PAGE}"
            )));
        }
        // The database drivers bind offsets as i64 and panic on anything larger.
        let offset = offset.unwrap_or(0);
        if offset > i64::MAX as u64 {
            return Err(Error::InvalidRequest(format!(
                "offset must be 0 to {}",
                i64::MAX
            )));
        }
        Ok(Page { limit, offset })
    }
}

async fn names_of(
    state: &AppState,
    rows: &[RefreshToken],
) -> Result<std::collections::HashMap<i64, String>, Error> {
    let mut out = std::collections::HashMap::new();
    for r in rows {
        if let std::collections::hash_map::Entry::Vacant(e) = out.entry(r.user_id) {
            let name = users::find_by_id(&state.db, r.user_id)
                .await?
                .map(|u| u.name)
                .unwrap_or_default();
            e.insert(name);
        }
    }
    Ok(out)
}

async fn list(state: &AppState, q: ListQuery<'_>) -> Result<(Vec<TokenView>, u64), Error> {
    let now = state.clock.now();
    let (rows, total) = refresh_tokens::list(&state.db, &q, now).await?;
    let names = names_of(state, &rows).await?;
    let views = rows
        .into_iter()
        .map(|r| {
            let n = names.get(&r.user_id).cloned().unwrap_or_default();
            view(r, &n, now)
        })
        .collect();
    Ok((views, total))
}

/// The caller's tokens, or (for an admin naming `user`) another user's.
pub async fn list_tokens(
    state: &AppState,
    caller: &Caller,
    user: Option<&str>,
    status: Option<StatusFilter>,
    page: Page,
) -> Result<(Vec<TokenView>, u64), Error> {
    let user_id = match user {
        Some(name) if name != caller.user.name => {
            if !caller.is_admin() {
                return Err(Error::Forbidden(
                    "listing another user's tokens needs the admin flag".into(),
                ));
            }
            users::find_by_name(&state.db, name)
                .await?
                .ok_or_else(|| Error::NotFound(format!("no user {name}")))?
                .id
        }
        _ => caller.user.id,
    };
    list(
        state,
        ListQuery {
            user_id: Some(user_id),
            album_id: None,
            status,
            limit: page.limit,
            offset: page.offset,
        },
    )
    .await
}

/// Album tokens of an album: all of them for an album admin (or a tessera admin), else the
/// caller's own.
pub async fn list_album_tokens(
    state: &AppState,
    caller: &Caller,
    album: &str,
    status: Option<StatusFilter>,
    page: Page,
) -> Result<(Vec<TokenView>, u64), Error> {
    let album_id = AlbumId::parse(album).map_err(|e| Error::InvalidRequest(e.to_string()))?;
    let held = visible_album(state, caller, &album_id).await?;
    let all = caller.is_admin() || held.contains_raw(Permission::Admin);
    list(
        state,
        ListQuery {
            user_id: (!all).then_some(caller.user.id),
            album_id: Some(album_id.as_str()),
            status,
            limit: page.limit,
            offset: page.offset,
        },
    )
    .await
}

/// The caller's permissions on an album it may know of: a member's, or anyone's for an admin.
/// To everyone else an existing album answers exactly like a missing one, so album ids cannot
/// be probed.
async fn visible_album(
    state: &AppState,
    caller: &Caller,
    album_id: &AlbumId,
) -> Result<crate::oauth::scope::Permissions, Error> {
    let not_found = || Error::NotFound(format!("no album {album_id}"));
    albums::find(&state.db, album_id.as_str())
        .await?
        .ok_or_else(not_found)?;
    let held = accounts::album_permissions(state, caller.user.id, album_id.as_str()).await?;
    if held.is_empty() && !caller.is_admin() {
        return Err(not_found());
    }
    Ok(held)
}

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
    if let (Some(album), "album") = (&row.album_id, row.kind.as_str()) {
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
    let _turn = state.sqlite_write_turn().await;
    let txn = crate::store::write_txn(&state.db).await?;
    let revoked =
        refresh_tokens::revoke_families(&txn, refresh_tokens::Roots::Family(family_id), now)
            .await?;
    if !revoked.is_empty() {
        audit::record(
            &txn,
            now,
            actor,
            "token.revoke",
            &format!("token:{family_id}"),
            serde_json::json!({ "revoked": revoked }),
        )
        .await?;
    }
    txn.commit().await.map_err(StoreError::from)?;
    state.metrics.revoked(revoked.len() as u64);
    Ok(())
}

/// Revokes every token of a user (for someone leaving). Admins and operators only.
pub async fn revoke_all_of_user(state: &AppState, actor: &str, user: &str) -> Result<usize, Error> {
    let u = users::find_by_name(&state.db, user)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no user {user}")))?;
    let now = state.clock.now();
    let _turn = state.sqlite_write_turn().await;
    let txn = crate::store::write_txn(&state.db).await?;
    // Locking the user's row waits for (and then sees) any token being created for them.
    users::lock(&txn, u.id).await?;
    let revoked =
        refresh_tokens::revoke_families(&txn, refresh_tokens::Roots::User(u.id), now).await?;
    audit::record(
        &txn,
        now,
        actor,
        "token.revoke_all",
        &format!("user:{user}"),
        serde_json::json!({ "revoked": revoked }),
    )
    .await?;
    txn.commit().await.map_err(StoreError::from)?;
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

/// Every token (or one user's), for the operator's `tessera token list`.
pub async fn operator_list(state: &AppState, user: Option<&str>) -> Result<Vec<TokenView>, Error> {
    let user_id = match user {
        Some(name) => Some(
            users::find_by_name(&state.db, name)
                .await?
                .ok_or_else(|| Error::NotFound(format!("no user {name}")))?
                .id,
        ),
        None => None,
    };
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let (page, total) = list(
            state,
            ListQuery {
                user_id,
                album_id: None,
                status: None,
                limit: MAX_PAGE,
                offset,
            },
        )
        .await?;
        offset += page.len() as u64;
        out.extend(page);
        if offset >= total || offset == 0 {
            return Ok(out);
        }
    }
}

/// `tessera token revoke ID`.
pub async fn operator_revoke(state: &AppState, id: &str) -> Result<(), Error> {
    refresh_tokens::find_head(&state.db, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no token {id}")))?;
    revoke_family(state, "operator", id).await
}
