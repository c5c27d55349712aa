//! Albums as scopes name them: the album id grammar and the permissions a member holds.

use std::fmt;
use std::str::FromStr;

use crate::model::ScopeError;

/// An album id, checked against the grammar.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AlbumId(String);

impl AlbumId {
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        if (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            Ok(AlbumId(s.to_string()))
        } else {
            Err(ScopeError::BadAlbumId)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AlbumId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A permission on an album, as a member holds it. `Admin` is never a scope: it lets a member
/// manage the album's tokens and implies every other permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    Read,
    Write,
    Download,
    Share,
    Admin,
}

impl Permission {
    pub const SCOPED: [Permission; 4] = [
        Permission::Read,
        Permission::Write,
        Permission::Download,
        Permission::Share,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Download => "download",
            Permission::Share => "share",
            Permission::Admin => "admin",
        }
    }
}

impl FromStr for Permission {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, ScopeError> {
        match s {
            "read" => Ok(Permission::Read),
            "write" => Ok(Permission::Write),
            "download" => Ok(Permission::Download),
            "share" => Ok(Permission::Share),
            "admin" => Ok(Permission::Admin),
            _ => Err(ScopeError::UnknownPermission(s.chars().take(32).collect())),
        }
    }
}

/// A set of album permissions (what a member holds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Permissions(u8);

impl Permissions {
    pub fn none() -> Self {
        Permissions(0)
    }
    fn bit(p: Permission) -> u8 {
        1 << (p as u8)
    }
    pub fn insert(&mut self, p: Permission) {
        self.0 |= Self::bit(p);
    }
    pub fn contains_raw(self, p: Permission) -> bool {
        self.0 & Self::bit(p) != 0
    }
    /// Whether this member may use `p`: admin implies every permission.
    pub fn allows(self, p: Permission) -> bool {
        self.contains_raw(p) || self.contains_raw(Permission::Admin)
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        [
            Permission::Read,
            Permission::Write,
            Permission::Download,
            Permission::Share,
            Permission::Admin,
        ]
        .into_iter()
        .filter(move |p| self.contains_raw(*p))
    }

    /// Parses a comma list such as `read,download`; `none` (or empty) is the empty set.
    pub fn parse_list(s: &str) -> Result<Self, ScopeError> {
        let mut out = Permissions::none();
        let s = s.trim();
        if s.is_empty() || s == "none" {
            return Ok(out);
        }
        for part in s.split(',') {
            out.insert(part.trim().parse()?);
        }
        Ok(out)
    }

    /// The stored form: a comma list in a fixed order.
    pub fn to_list(self) -> String {
        self.iter()
            .map(Permission::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_lists() {
        let p = Permissions::parse_list("share,read").unwrap();
        assert_eq!(p.to_list(), "read,share");
        assert!(Permissions::parse_list("none").unwrap().is_empty());
        assert!(Permissions::parse_list("read,fly").is_err());
        assert!(Permissions::parse_list("admin")
            .unwrap()
            .allows(Permission::Write));
    }
}
