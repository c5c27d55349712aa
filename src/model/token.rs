//! Refresh tokens as tessera's rules see them: typed kind and scope, and the status rules that
//! every layer applies the same way.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::model::Scope;

/// What a refresh token was made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A user's own token (`user` scope, or album scopes narrowed from it).
    Personal,
    /// A token confined to one album, made by a member who may share it.
    Album,
    /// Issued to a registered client and bound to it; always rotating.
    Client,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Personal => "personal",
            TokenKind::Album => "album",
            TokenKind::Client => "client",
        }
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct UnknownTokenKind;

impl FromStr for TokenKind {
    type Err = UnknownTokenKind;
    fn from_str(s: &str) -> Result<Self, UnknownTokenKind> {
        [TokenKind::Personal, TokenKind::Album, TokenKind::Client]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(UnknownTokenKind)
    }
}

/// What a listing shows for a token's family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenStatus {
    Active,
    Expired,
    Revoked,
}

impl TokenStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Expired => "expired",
            TokenStatus::Revoked => "revoked",
        }
    }
}

/// One row of a token family: the string issued first, or one that replaced it by rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshToken {
    /// The row's own id (access tokens carry it as `rtid`).
    pub id: String,
    /// Hex SHA-256 of the token string.
    pub secret_hash: String,
    pub kind: TokenKind,
    pub name: String,
    pub user_id: i64,
    /// The client the token is bound to (client-issued tokens only).
    pub client_id: Option<String>,
    pub album_id: Option<String>,
    pub scope: Scope,
    pub rotating: bool,
    /// The token's public id: the id of the family's first row.
    pub family_id: String,
    /// The family of the token whose credential created this one.
    pub parent_id: Option<String>,
    pub rotated_from_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl RefreshToken {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }

    /// Revocation outranks expiry: a revoked token shows as revoked even once it has expired.
    pub fn status(&self, now: DateTime<Utc>) -> TokenStatus {
        if self.revoked_at.is_some() {
            TokenStatus::Revoked
        } else if self.is_expired(now) {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        }
    }

    /// The live head of its family: active and not replaced by rotation. Only such a row may
    /// be exchanged (outside the rotation grace), introspect as active, or rotate.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.status(now) == TokenStatus::Active && self.rotated_at.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn token(now: DateTime<Utc>) -> RefreshToken {
        RefreshToken {
            id: "r1".into(),
            secret_hash: "00".into(),
            kind: TokenKind::Personal,
            name: "ci".into(),
            user_id: 1,
            client_id: None,
            album_id: None,
            scope: Scope::parse("user").unwrap(),
            rotating: false,
            family_id: "r1".into(),
            parent_id: None,
            rotated_from_id: None,
            created_at: now,
            expires_at: Some(now + Duration::days(1)),
            last_used_at: None,
            rotated_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn status_and_liveness() {
        let now = Utc::now();
        let mut t = token(now);
        assert_eq!(t.status(now), TokenStatus::Active);
        assert!(t.is_live(now));
        // Expiry is exclusive: at the instant of expiry the token is expired.
        let at_expiry = now + Duration::days(1);
        assert_eq!(t.status(at_expiry), TokenStatus::Expired);
        assert!(!t.is_live(at_expiry));
        t.rotated_at = Some(now);
        assert_eq!(t.status(now), TokenStatus::Active);
        assert!(!t.is_live(now), "a rotated row is no longer the head");
        t.revoked_at = Some(now);
        assert_eq!(t.status(at_expiry), TokenStatus::Revoked);
        t.expires_at = None;
        t.revoked_at = None;
        t.rotated_at = None;
        assert!(t.is_live(now + Duration::days(36500)));
    }

    #[test]
    fn kinds_round_trip() {
        for k in [TokenKind::Personal, TokenKind::Album, TokenKind::Client] {
            assert_eq!(k.as_str().parse::<TokenKind>(), Ok(k));
        }
        assert_eq!("user".parse::<TokenKind>(), Err(UnknownTokenKind));
    }
}
