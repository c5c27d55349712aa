//! What a token's owner holds right now, and the one rule that turns a token's scope into what
//! it grants today: album scopes hold only while the owner holds the permission, `admin` only
//! while the owner is an admin.

use std::collections::BTreeMap;

use super::album::{AlbumId, Permissions};
use crate::model::{Scope, ScopeItem};

/// A user's current admin flag and album permissions (only the albums someone asked about).
#[derive(Clone, Debug, Default)]
pub struct Holdings {
    pub is_admin: bool,
    pub albums: BTreeMap<AlbumId, Permissions>,
}

impl Holdings {
    /// Whether the owner holds `item` now. `user` is always held: it is the owner's own power.
    pub fn holds(&self, item: &ScopeItem) -> bool {
        match item {
            ScopeItem::User => true,
            ScopeItem::Admin => self.is_admin,
            ScopeItem::Album { album, permission } => self
                .albums
                .get(album)
                .is_some_and(|p| p.allows(*permission)),
        }
    }

    /// The permissions held on one album (none if not a member).
    pub fn on(&self, album: &AlbumId) -> Permissions {
        self.albums.get(album).copied().unwrap_or_default()
    }
}

/// The part of `scope` its owner holds now, with download/share dropped where read was lost.
/// An empty result means the token grants nothing any more.
pub fn effective_scope(scope: &Scope, owner: &Holdings) -> Scope {
    let mut held = scope.clone();
    held.retain(|item| owner.holds(item));
    held.normalize_read_rule()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::album::Permission;

    fn holdings(admin: bool, albums: &[(&str, &str)]) -> Holdings {
        Holdings {
            is_admin: admin,
            albums: albums
                .iter()
                .map(|(a, p)| {
                    (
                        AlbumId::parse(a).unwrap(),
                        Permissions::parse_list(p).unwrap(),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn keeps_only_what_is_held_and_restores_the_read_rule() {
        let scope = Scope::parse("user admin album:a:read album:a:share album:b:read").unwrap();
        let now = holdings(false, &[("a", "share"), ("b", "read")]);
        // a: read lost, so share goes too; admin lost; user always held.
        assert_eq!(
            effective_scope(&scope, &now).to_string(),
            "album:b:read user"
        );
        let all = holdings(true, &[("a", "admin"), ("b", "read")]);
        assert_eq!(effective_scope(&scope, &all), scope);
    }

    #[test]
    fn nothing_held_is_empty() {
        let scope = Scope::parse("album:a:read album:a:download").unwrap();
        assert!(effective_scope(&scope, &Holdings::default()).is_empty());
        let h = holdings(false, &[("a", "read")]);
        assert!(h.on(&AlbumId::parse("a").unwrap()).allows(Permission::Read));
        assert!(h.on(&AlbumId::parse("zz").unwrap()).is_empty());
    }
}
