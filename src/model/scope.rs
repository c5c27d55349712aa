//! The scope grammar: `user`, `admin`, and `album:<album_id>:<permission>` with permission one
//! of `read`, `write`, `download`, `share`. Album ids are 1 to 64 characters of `[A-Za-z0-9_-]`.
//! `download` and `share` are meaningless without `read` on the same album; `admin` (the admin
//! routes of `/api`, for an admin's token) is meaningless without `user`.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use super::album::{AlbumId, Permission};

/// Longest scope string accepted anywhere (RFC 6749 sets no limit; this keeps parsing cheap).
pub const MAX_SCOPE_LEN: usize = 2048;

/// One scope token.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScopeItem {
    User,
    /// The admin power of an admin user; only an admin's token may carry it.
    Admin,
    Album {
        album: AlbumId,
        permission: Permission,
    },
}

impl fmt::Display for ScopeItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeItem::User => f.write_str("user"),
            ScopeItem::Admin => f.write_str("admin"),
            ScopeItem::Album { album, permission } => {
                write!(f, "album:{album}:{}", permission.as_str())
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("scope is empty")]
    Empty,
    #[error("scope is longer than {MAX_SCOPE_LEN} characters")]
    TooLong,
    #[error(
        "unknown scope {0:?}; expected user, admin or album:<album_id>:<read|write|download|share>"
    )]
    Unknown(String),
    #[error("album ids are 1 to 64 characters of A-Z, a-z, 0-9, _ and -")]
    BadAlbumId,
    #[error("unknown permission {0:?}; expected read, write, download or share")]
    UnknownPermission(String),
    #[error("album:{0}:{1} requires album:{0}:read in the same scope")]
    NeedsRead(String, &'static str),
    #[error("admin requires user in the same scope")]
    AdminNeedsUser,
}

impl FromStr for ScopeItem {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, ScopeError> {
        match s {
            "user" => return Ok(ScopeItem::User),
            "admin" => return Ok(ScopeItem::Admin),
            _ => {}
        }
        let unknown = || ScopeError::Unknown(s.chars().take(80).collect());
        let rest = s.strip_prefix("album:").ok_or_else(unknown)?;
        let (album, perm) = rest.rsplit_once(':').ok_or_else(unknown)?;
        let permission: Permission = perm.parse()?;
        if permission == Permission::Admin {
            return Err(ScopeError::UnknownPermission("admin".into()));
        }
        Ok(ScopeItem::Album {
            album: AlbumId::parse(album)?,
            permission,
        })
    }
}

/// A valid set of scope items, always sorted (its `Display` is deterministic).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope(BTreeSet<ScopeItem>);

impl Scope {
    /// Parses a space-separated scope (RFC 6749 §3.3) and checks the read rule.
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        if s.len() > MAX_SCOPE_LEN {
            return Err(ScopeError::TooLong);
        }
        let items = s
            .split(' ')
            .filter(|p| !p.is_empty())
            .map(str::parse)
            .collect::<Result<BTreeSet<ScopeItem>, _>>()?;
        if items.is_empty() {
            return Err(ScopeError::Empty);
        }
        let scope = Scope(items);
        scope.check_read_rule()?;
        Ok(scope)
    }

    pub fn from_items(items: impl IntoIterator<Item = ScopeItem>) -> Self {
        Scope(items.into_iter().collect())
    }

    fn check_read_rule(&self) -> Result<(), ScopeError> {
        if self.has_admin() && !self.has_user() {
            return Err(ScopeError::AdminNeedsUser);
        }
        for item in &self.0 {
            if let ScopeItem::Album { album, permission } = item {
                if matches!(permission, Permission::Download | Permission::Share)
                    && !self.0.contains(&ScopeItem::Album {
                        album: album.clone(),
                        permission: Permission::Read,
                    })
                {
                    return Err(ScopeError::NeedsRead(
                        album.to_string(),
                        permission.as_str(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Drops download/share on albums whose read was dropped, so the read rule holds again.
    pub fn normalize_read_rule(self) -> Self {
        let has_read = |album: &AlbumId, items: &BTreeSet<ScopeItem>| {
            items.contains(&ScopeItem::Album {
                album: album.clone(),
                permission: Permission::Read,
            })
        };
        let kept = self
            .0
            .iter()
            .filter(|i| match i {
                ScopeItem::Album {
                    album,
                    permission: Permission::Download | Permission::Share,
                } => has_read(album, &self.0),
                _ => true,
            })
            .cloned()
            .collect();
        Scope(kept)
    }

    pub fn items(&self) -> impl Iterator<Item = &ScopeItem> {
        self.0.iter()
    }
    pub fn contains(&self, item: &ScopeItem) -> bool {
        self.0.contains(item)
    }
    pub fn has_user(&self) -> bool {
        self.0.contains(&ScopeItem::User)
    }
    pub fn has_admin(&self) -> bool {
        self.0.contains(&ScopeItem::Admin)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn is_subset(&self, other: &Scope) -> bool {
        self.0.is_subset(&other.0)
    }
    /// Album ids named by album scopes.
    pub fn albums(&self) -> BTreeSet<&AlbumId> {
        self.0
            .iter()
            .filter_map(|i| match i {
                ScopeItem::Album { album, .. } => Some(album),
                ScopeItem::User | ScopeItem::Admin => None,
            })
            .collect()
    }
    pub fn retain(&mut self, f: impl FnMut(&ScopeItem) -> bool) {
        self.0.retain(f)
    }
}

impl fmt::Display for Scope {
    /// Space-separated in sorted order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut strings: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        strings.sort();
        f.write_str(&strings.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_sorts() {
        let s = Scope::parse("album:b:read user album:a:download album:a:read").unwrap();
        assert_eq!(
            s.to_string(),
            "album:a:download album:a:read album:b:read user"
        );
    }

    #[test]
    fn rejects_bad_scopes() {
        assert_eq!(Scope::parse(""), Err(ScopeError::Empty));
        assert_eq!(Scope::parse("   "), Err(ScopeError::Empty));
        assert_eq!(Scope::parse("admin"), Err(ScopeError::AdminNeedsUser));
        assert_eq!(
            Scope::parse("admin user").unwrap().to_string(),
            "admin user"
        );
        assert!(matches!(Scope::parse("root"), Err(ScopeError::Unknown(_))));
        assert!(matches!(
            Scope::parse("album:x:admin"),
            Err(ScopeError::UnknownPermission(_))
        ));
        assert!(matches!(
            Scope::parse("album:x:delete"),
            Err(ScopeError::UnknownPermission(_))
        ));
        assert_eq!(Scope::parse("album::read"), Err(ScopeError::BadAlbumId));
        assert_eq!(Scope::parse("album:a/b:read"), Err(ScopeError::BadAlbumId));
        assert_eq!(
            Scope::parse(&format!("album:{}:read", "a".repeat(65))),
            Err(ScopeError::BadAlbumId)
        );
        assert!(Scope::parse(&format!("album:{}:read", "a".repeat(64))).is_ok());
        assert_eq!(
            Scope::parse(&"user ".repeat(1000)),
            Err(ScopeError::TooLong)
        );
    }

    #[test]
    fn download_and_share_need_read() {
        assert!(matches!(
            Scope::parse("album:a:download"),
            Err(ScopeError::NeedsRead(..))
        ));
        assert!(matches!(
            Scope::parse("album:a:share album:b:read"),
            Err(ScopeError::NeedsRead(..))
        ));
        assert!(Scope::parse("album:a:share album:a:read").is_ok());
        assert!(Scope::parse("album:a:write").is_ok());
    }

    #[test]
    fn normalize_drops_orphans() {
        let mut s = Scope::parse("album:a:read album:a:download album:b:read").unwrap();
        s.retain(|i| i.to_string() != "album:a:read");
        assert_eq!(s.normalize_read_rule().to_string(), "album:b:read");
    }

    fn item() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("user".to_string()),
            (
                "[A-Za-z0-9_-]{1,64}",
                prop::sample::select(vec!["read", "write", "download", "share"])
            )
                .prop_map(|(a, p)| format!("album:{a}:{p}")),
        ]
    }

    proptest! {
        /// Valid scopes round-trip through Display, in sorted order, whatever the input order.
        #[test]
        fn valid_scopes_round_trip(items in prop::collection::vec(item(), 1..8)) {
            let s = items.join(" ");
            if let Ok(scope) = Scope::parse(&s) {
                let shown = scope.to_string();
                prop_assert_eq!(Scope::parse(&shown).unwrap(), scope);
                let mut parts: Vec<&str> = shown.split(' ').collect();
                let sorted = { let mut p = parts.clone(); p.sort(); p };
                prop_assert_eq!(&parts, &sorted);
                parts.dedup();
                prop_assert_eq!(parts.len(), shown.split(' ').count());
            }
        }

        /// A scope with read on every album it names is always valid.
        #[test]
        fn read_makes_valid(items in prop::collection::vec(item(), 1..8)) {
            let mut all = items.clone();
            for i in &items {
                if let Some(rest) = i.strip_prefix("album:") {
                    let (a, _) = rest.rsplit_once(':').unwrap();
                    all.push(format!("album:{a}:read"));
                }
            }
            prop_assert!(Scope::parse(&all.join(" ")).is_ok());
        }

        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,300}") {
            let _ = Scope::parse(&s);
        }
    }
}
