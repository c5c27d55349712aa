use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    /// Public id, used to list and revoke.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Hex SHA-256 of the token string.
    pub secret_hash: String,
    /// `personal`, `album` or `client`.
    pub kind: String,
    pub name: String,
    pub user_id: i64,
    /// The client the token is bound to (client-issued tokens only).
    pub client_id: Option<String>,
    pub album_id: Option<String>,
    pub scope: String,
    pub rotating: bool,
    pub family_id: String,
    pub parent_id: Option<String>,
    pub rotated_from_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: Option<DateTimeUtc>,
    pub last_used_at: Option<DateTimeUtc>,
    pub rotated_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The owner: read together with the token on the hot paths (one query, not two).
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id"
    )]
    Owner,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Owner.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
