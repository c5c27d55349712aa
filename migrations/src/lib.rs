//! tessera's schema, defined only here, as migrations that run unchanged on SQLite and PostgreSQL.
//!
//! Migrations name tables and columns with plain identifiers and never import the entities in
//! `tessera::store`, so an old migration keeps compiling and meaning the same when entities change.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_create_schema;
mod m20261201_000001_user_state;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_schema::Migration),
            Box::new(m20261201_000001_user_state::Migration),
        ]
    }
}
