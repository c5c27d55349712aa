//! Personal and album tokens: create (secret shown once), list, show, revoke, administer.
//! A token's public id is its family id; rotation changes the secret, never the id.
//! `create` makes tokens (within the caller's power and the quotas of `admit`), `list` lists
//! them, `revoke` shows and revokes one or all; the view a caller gets is defined here.

mod admit;
mod create;
mod list;
mod revoke;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Error;
use crate::model::{RefreshToken, ScopeItem, TokenKind};
use crate::store::refresh_tokens::StatusFilter;
use crate::tokens::secret::Secret;

pub use create::{create_album_token, create_personal, Expiry, NewAlbumToken, NewPersonal};
pub use list::{list_album_tokens, list_tokens, operator_list};
pub use revoke::{operator_as, operator_revoke, revoke, revoke_all_of_user, revoke_family, show};

pub const MAX_TOKEN_NAME: usize = 100;

pub const MAX_PAGE: u64 = 500;

/// A token as its owner (or an admin) sees it. Never the secret or its hash.
#[derive(Debug, Serialize)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
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

pub fn view(row: RefreshToken, user: &str, now: DateTime<Utc>) -> TokenView {
    let permissions = (row.kind == TokenKind::Album).then(|| {
        row.scope
            .items()
            .filter_map(|i| match i {
                ScopeItem::Album { permission, .. } => Some(permission.as_str()),
                ScopeItem::User | ScopeItem::Admin => None,
            })
            .collect()
    });
    TokenView {
        status: row.status(now).as_str(),
        id: row.family_id,
        name: row.name,
        kind: row.kind.as_str(),
        user: user.to_string(),
        scope: row.scope.to_string(),
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
