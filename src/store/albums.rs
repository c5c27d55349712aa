//! Albums and per-user album permissions.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::entity::album::{self, Entity as Albums};
use super::entity::album_member::{self, Entity as Members};
use super::StoreError;
use crate::model::{AlbumId, Permissions};

pub use album::Model as Album;

pub async fn create(
    db: &impl ConnectionTrait,
    id: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Album, StoreError> {
    let row = album::ActiveModel {
        id: Set(id.to_string()),
        name: Set(name.to_string()),
        created_at: Set(now),
    };
    Ok(row.insert(db).await?)
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<Album>, StoreError> {
    Ok(Albums::find_by_id(id.to_string()).one(db).await?)
}

/// Replaces the user's permissions on the album; an empty list removes the membership.
pub async fn set_permissions(
    db: &impl ConnectionTrait,
    album_id: &str,
    user_id: i64,
    permissions: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if permissions.is_empty() {
        Members::delete_many()
            .filter(album_member::Column::AlbumId.eq(album_id))
            .filter(album_member::Column::UserId.eq(user_id))
            .exec(db)
            .await?;
        return Ok(());
    }
    let row = album_member::ActiveModel {
        album_id: Set(album_id.to_string()),
        user_id: Set(user_id),
        permissions: Set(permissions.to_string()),
        updated_at: Set(now),
    };
    Members::insert(row)
        .on_conflict(
            OnConflict::columns([album_member::Column::AlbumId, album_member::Column::UserId])
                .update_columns([
                    album_member::Column::Permissions,
                    album_member::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}

/// The user's permissions on each of the given albums (albums without membership absent).
pub async fn permissions_on(
    db: &impl ConnectionTrait,
    user_id: i64,
    album_ids: &[&AlbumId],
) -> Result<BTreeMap<AlbumId, Permissions>, StoreError> {
    if album_ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let rows = Members::find()
        .filter(album_member::Column::UserId.eq(user_id))
        .filter(album_member::Column::AlbumId.is_in(album_ids.iter().map(|a| a.as_str())))
        .all(db)
        .await?;
    Ok(parsed(rows))
}

/// The permissions of each membership row, parsed here once. A row that does not parse grants
/// nothing (and is logged): it can only come from outside tessera.
fn parsed(rows: Vec<album_member::Model>) -> BTreeMap<AlbumId, Permissions> {
    rows.into_iter()
        .filter_map(|m| {
            match (
                AlbumId::parse(&m.album_id),
                Permissions::parse_list(&m.permissions),
            ) {
                (Ok(a), Ok(p)) => Some((a, p)),
                _ => {
                    tracing::error!(album = %m.album_id, "album membership row does not parse");
                    None
                }
            }
        })
        .collect()
}

/// Like [`permissions_on`], for the owner of the refresh-token row `row_id` (an access token's
/// `rtid`), without looking the owner up first.
pub async fn permissions_of_row_owner(
    db: &impl ConnectionTrait,
    row_id: &str,
    album_ids: &[&AlbumId],
) -> Result<BTreeMap<AlbumId, Permissions>, StoreError> {
    use super::entity::refresh_token::{Column as R, Entity as Tokens};
    use sea_orm::sea_query::{Expr, ExprTrait, Query};
    if album_ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let owner = Query::select()
        .column(R::UserId)
        .from(Tokens)
        .and_where(Expr::col(R::Id).eq(row_id))
        .to_owned();
    let rows = Members::find()
        .filter(Expr::col(album_member::Column::UserId).in_subquery(owner))
        .filter(album_member::Column::AlbumId.is_in(album_ids.iter().map(|a| a.as_str())))
        .all(db)
        .await?;
    Ok(parsed(rows))
}

/// Removes every album membership of a user (when the user is deleted).
pub async fn remove_all_of_user(db: &impl ConnectionTrait, user_id: i64) -> Result<(), StoreError> {
    Members::delete_many()
        .filter(album_member::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}
