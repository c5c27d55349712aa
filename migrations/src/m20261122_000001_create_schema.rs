//! The first schema: users, clients, albums and memberships, refresh tokens, revoked access-token
//! ids and the audit log. Every time column is written from Rust (no database-side `now()`), so
//! values compare consistently on both backends.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Name,
    PasswordHash,
    IsAdmin,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    Id,
    SecretHash,
    IsPublic,
    GrantTypes,
    Scope,
    MayIntrospect,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Albums {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AlbumMembers {
    Table,
    AlbumId,
    UserId,
    Permissions,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    SecretHash,
    Kind,
    Name,
    UserId,
    ClientId,
    AlbumId,
    Scope,
    Rotating,
    FamilyId,
    ParentId,
    RotatedFromId,
    CreatedAt,
    ExpiresAt,
    LastUsedAt,
    RotatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum RevokedAccessTokens {
    Table,
    Jti,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    At,
    Actor,
    Action,
    Target,
    Detail,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Users::Table)
                .if_not_exists()
                .col(big_pk_auto(Users::Id))
                .col(string_len_uniq(Users::Name, 64))
                .col(string(Users::PasswordHash))
                .col(boolean(Users::IsAdmin))
                .col(timestamp_with_time_zone(Users::CreatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Clients::Table)
                .if_not_exists()
                .col(string_len(Clients::Id, 128).primary_key())
                // SHA-256 of the secret, hex; NULL for public clients.
                .col(string_len_null(Clients::SecretHash, 64))
                .col(boolean(Clients::IsPublic))
                // Space-separated grant types and allowed scopes (scope NULL: any scope).
                .col(string(Clients::GrantTypes))
                .col(text_null(Clients::Scope))
                .col(boolean(Clients::MayIntrospect))
                .col(timestamp_with_time_zone(Clients::CreatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Albums::Table)
                .if_not_exists()
                .col(string_len(Albums::Id, 64).primary_key())
                .col(string_len(Albums::Name, 200))
                .col(timestamp_with_time_zone(Albums::CreatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AlbumMembers::Table)
                .if_not_exists()
                .col(string_len(AlbumMembers::AlbumId, 64))
                .col(big_integer(AlbumMembers::UserId))
                // Comma-separated subset of read,write,download,share,admin.
                .col(string_len(AlbumMembers::Permissions, 64))
                .col(timestamp_with_time_zone(AlbumMembers::UpdatedAt))
                .primary_key(
                    Index::create()
                        .col(AlbumMembers::AlbumId)
                        .col(AlbumMembers::UserId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(AlbumMembers::Table, AlbumMembers::AlbumId)
                        .to(Albums::Table, Albums::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(AlbumMembers::Table, AlbumMembers::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(RefreshTokens::Table)
                .if_not_exists()
                // Short public id, used to list and revoke; not a secret.
                .col(string_len(RefreshTokens::Id, 32).primary_key())
                // SHA-256 of the whole token string, hex.
                .col(string_len_uniq(RefreshTokens::SecretHash, 64))
                // personal | album | client
                .col(string_len(RefreshTokens::Kind, 16))
                .col(string_len(RefreshTokens::Name, 200))
                .col(big_integer(RefreshTokens::UserId))
                .col(string_len_null(RefreshTokens::ClientId, 128))
                .col(string_len_null(RefreshTokens::AlbumId, 64))
                .col(text(RefreshTokens::Scope))
                .col(boolean(RefreshTokens::Rotating))
                // Every token of one rotation chain shares the family id of its first member.
                .col(string_len(RefreshTokens::FamilyId, 32))
                // The token whose Bearer credential created this one (not rotation).
                .col(string_len_null(RefreshTokens::ParentId, 32))
                // The token this one replaced by rotation.
                .col(string_len_null(RefreshTokens::RotatedFromId, 32))
                .col(timestamp_with_time_zone(RefreshTokens::CreatedAt))
                .col(timestamp_with_time_zone_null(RefreshTokens::ExpiresAt))
                .col(timestamp_with_time_zone_null(RefreshTokens::LastUsedAt))
                .col(timestamp_with_time_zone_null(RefreshTokens::RotatedAt))
                .col(timestamp_with_time_zone_null(RefreshTokens::RevokedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(RefreshTokens::Table, RefreshTokens::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("idx_refresh_tokens_user", RefreshTokens::UserId),
            ("idx_refresh_tokens_family", RefreshTokens::FamilyId),
            ("idx_refresh_tokens_parent", RefreshTokens::ParentId),
            ("idx_refresh_tokens_album", RefreshTokens::AlbumId),
            ("idx_refresh_tokens_expires", RefreshTokens::ExpiresAt),
            ("idx_refresh_tokens_revoked", RefreshTokens::RevokedAt),
        ] {
            m.create_index(
                Index::create()
                    .if_not_exists()
                    .name(name)
                    .table(RefreshTokens::Table)
                    .col(col)
                    .to_owned(),
            )
            .await?;
        }

        m.create_table(
            Table::create()
                .table(RevokedAccessTokens::Table)
                .if_not_exists()
                .col(string_len(RevokedAccessTokens::Jti, 64).primary_key())
                .col(timestamp_with_time_zone(RevokedAccessTokens::ExpiresAt))
                .col(timestamp_with_time_zone(RevokedAccessTokens::RevokedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_revoked_access_tokens_expires")
                .table(RevokedAccessTokens::Table)
                .col(RevokedAccessTokens::ExpiresAt)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuditEvents::Table)
                .if_not_exists()
                .col(big_pk_auto(AuditEvents::Id))
                .col(timestamp_with_time_zone(AuditEvents::At))
                .col(string_len(AuditEvents::Actor, 200))
                .col(string_len(AuditEvents::Action, 64))
                .col(string_len(AuditEvents::Target, 200))
                .col(text(AuditEvents::Detail))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_audit_events_at")
                .table(AuditEvents::Table)
                .col(AuditEvents::At)
                .to_owned(),
        )
        .await?;

        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            AuditEvents::Table.into_iden(),
            RevokedAccessTokens::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            AlbumMembers::Table.into_iden(),
            Albums::Table.into_iden(),
            Clients::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
