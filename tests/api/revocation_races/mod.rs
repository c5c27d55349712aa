//! Revocation under attack: a token tree grown past what one SQL statement can bind, revocation
//! racing rotation and reuse detection, and children made while their parent is revoked. Each
//! race repeats many trials; after a revocation has answered, nothing of the family may work.

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use tessera::store::entity::refresh_token;

use crate::helpers::TestApp;

mod races;
mod tree;

/// Unrevoked rows whose parent is `parent`.
async fn live_children(app: &TestApp, parent: &str) -> u64 {
    refresh_token::Entity::find()
        .filter(refresh_token::Column::ParentId.eq(parent))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .count(&app.state.db)
        .await
        .unwrap()
}

/// Unrevoked rows of the family `family`.
async fn live_rows(app: &TestApp, family: &str) -> u64 {
    refresh_token::Entity::find()
        .filter(refresh_token::Column::FamilyId.eq(family))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .count(&app.state.db)
        .await
        .unwrap()
}
