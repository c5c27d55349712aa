use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "album_members")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub album_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i64,
    /// Comma-separated subset of read,write,download,share,admin.
    pub permissions: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
