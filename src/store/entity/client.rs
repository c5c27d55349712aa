use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Hex SHA-256 of the client secret; `None` for public clients.
    pub secret_hash: Option<String>,
    pub is_public: bool,
    /// Space-separated grant types.
    pub grant_types: String,
    /// Space-separated allowed scopes (`album:*:<perm>` allows any album); `None`: any scope.
    pub scope: Option<String>,
    pub may_introspect: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
