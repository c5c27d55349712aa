//! The hottest query of tessera: a token by its hash, with its owner.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::{from_row, RefreshToken};
use crate::store::entity::refresh_token::{self, Column as C, Entity as Tokens};
use crate::store::entity::user;
use crate::store::users::User;
use crate::store::{CachedSql, StoreError};

/// The token with this hash and its owner, in one query: the refresh grant and introspection
/// need both, and on SQLite every query is a hand-off to the connection's worker thread.
///
/// This is the hottest query of tessera, so it skips two costs of sea-orm's generic path that
/// the profile showed to be larger than the lookup itself: the SQL is built by sea-query once
/// per backend (from an entity-based select joining the owner) and reused, and the row is
/// decoded by column position instead of by formatted alias names.
pub async fn find_by_hash_with_owner(
    db: &impl ConnectionTrait,
    secret_hash: &str,
) -> Result<Option<(RefreshToken, User)>, StoreError> {
    use sea_orm::QueryTrait;
    static SQL: CachedSql = CachedSql::new();
    let stmt = SQL.statement(
        db.get_database_backend(),
        |backend| {
            Tokens::find()
                .filter(C::SecretHash.eq(""))
                .inner_join(user::Entity)
                .select_also(user::Entity)
                .build(backend)
                .sql
        },
        [secret_hash.into()],
    );
    let Some(row) = db.query_all_raw(stmt).await?.into_iter().next() else {
        return Ok(None);
    };
    // The inner join (and the foreign key) guarantee an owner.
    Ok(Some((
        from_row(token_at(&row)?)?,
        owner_at(&row, TOKEN_COLUMNS)?,
    )))
}

/// How many columns a refresh-token row has: the owner's columns follow them.
const TOKEN_COLUMNS: usize = 17;

/// Decodes the refresh-token columns, in `Column` order (the order sea-query selects them in).
fn token_at(r: &sea_orm::QueryResult) -> Result<refresh_token::Model, sea_orm::DbErr> {
    Ok(refresh_token::Model {
        id: r.try_get_by_index(0)?,
        secret_hash: r.try_get_by_index(1)?,
        kind: r.try_get_by_index(2)?,
        name: r.try_get_by_index(3)?,
        user_id: r.try_get_by_index(4)?,
        client_id: r.try_get_by_index(5)?,
        album_id: r.try_get_by_index(6)?,
        scope: r.try_get_by_index(7)?,
        rotating: r.try_get_by_index(8)?,
        family_id: r.try_get_by_index(9)?,
        parent_id: r.try_get_by_index(10)?,
        rotated_from_id: r.try_get_by_index(11)?,
        created_at: r.try_get_by_index(12)?,
        expires_at: r.try_get_by_index(13)?,
        last_used_at: r.try_get_by_index(14)?,
        rotated_at: r.try_get_by_index(15)?,
        revoked_at: r.try_get_by_index(16)?,
    })
}

/// Decodes the owner's columns, which start at `base`.
fn owner_at(r: &sea_orm::QueryResult, base: usize) -> Result<User, sea_orm::DbErr> {
    Ok(User {
        id: r.try_get_by_index(base)?,
        name: r.try_get_by_index(base + 1)?,
        password_hash: r.try_get_by_index(base + 2)?,
        is_admin: r.try_get_by_index(base + 3)?,
        created_at: r.try_get_by_index(base + 4)?,
        disabled_at: r.try_get_by_index(base + 5)?,
        deleted_at: r.try_get_by_index(base + 6)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    #[test]
    fn positional_decoding_covers_every_column() {
        // `token_at` and `owner_at` list the columns by hand; a column added to an entity must
        // be added there too (the integration test compares both paths row for row).
        assert_eq!(refresh_token::Column::iter().count(), super::TOKEN_COLUMNS);
        assert_eq!(user::Column::iter().count(), 7);
    }
}
