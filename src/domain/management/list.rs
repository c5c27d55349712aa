//! Listing tokens: a user's own, another user's (admins), an album's, and every token for the
//! operator.

use super::{view, Page, TokenView, MAX_PAGE};
use crate::domain::accounts;
use crate::domain::caller::Caller;
use crate::domain::{AppState, Error};
use crate::model::{AlbumId, Permission, Permissions, RefreshToken};
use crate::store::refresh_tokens::{self, ListQuery, StatusFilter};
use crate::store::{albums, users};

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
pub(super) async fn visible_album(
    state: &AppState,
    caller: &Caller,
    album_id: &AlbumId,
) -> Result<Permissions, Error> {
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
