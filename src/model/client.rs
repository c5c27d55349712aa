//! OAuth clients as every layer sees them: public or confidential, the grants they may use and
//! the scope they may ask for. The secret hash stays in `store`.

use std::collections::BTreeSet;

use super::album::Permission;
use super::grant::GrantType;
use crate::model::{Scope, ScopeError, ScopeItem};

/// The client id recorded in access tokens exchanged without client authentication.
pub const BUILTIN_PUBLIC_CLIENT: &str = "tessera";

/// The longest client id; the OAuth endpoints refuse longer ones before anything else.
pub const MAX_CLIENT_ID_LEN: usize = 128;

/// A registered (or the built-in) client, authenticated or not.
#[derive(Clone, Debug)]
pub struct Client {
    pub id: String,
    pub is_public: bool,
    pub grant_types: BTreeSet<GrantType>,
    pub policy: ClientScopePolicy,
    pub may_introspect: bool,
}

impl Client {
    /// The built-in public client: refresh tokens presented without any client.
    pub fn builtin() -> Self {
        Client {
            id: BUILTIN_PUBLIC_CLIENT.to_string(),
            is_public: true,
            grant_types: BTreeSet::from([GrantType::RefreshToken]),
            policy: ClientScopePolicy::Any,
            may_introspect: false,
        }
    }

    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

/// What a client may ask for: exact items, `album:*:<perm>` for any album, or anything.
#[derive(Clone, Debug)]
pub enum ClientScopePolicy {
    Any,
    Only {
        exact: BTreeSet<ScopeItem>,
        any_album: BTreeSet<Permission>,
    },
}

impl ClientScopePolicy {
    pub fn parse(s: Option<&str>) -> Result<Self, ScopeError> {
        let Some(s) = s else {
            return Ok(ClientScopePolicy::Any);
        };
        let mut exact = BTreeSet::new();
        let mut any_album = BTreeSet::new();
        for part in s.split(' ').filter(|p| !p.is_empty()) {
            if let Some(perm) = part.strip_prefix("album:*:") {
                let p: Permission = perm.parse()?;
                if p == Permission::Admin {
                    return Err(ScopeError::UnknownPermission("admin".into()));
                }
                any_album.insert(p);
            } else {
                exact.insert(part.parse()?);
            }
        }
        Ok(ClientScopePolicy::Only { exact, any_album })
    }

    pub fn allows(&self, item: &ScopeItem) -> bool {
        match self {
            ClientScopePolicy::Any => true,
            ClientScopePolicy::Only { exact, any_album } => {
                exact.contains(item)
                    || matches!(item, ScopeItem::Album { permission, .. } if any_album.contains(permission))
            }
        }
    }

    /// The first item of `scope` this client may not have.
    pub fn first_disallowed<'a>(&self, scope: &'a Scope) -> Option<&'a ScopeItem> {
        scope.items().find(|i| !self.allows(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_policy_wildcards() {
        let p = ClientScopePolicy::parse(Some("user album:*:read")).unwrap();
        assert!(p.allows(&"album:zz:read".parse().unwrap()));
        assert!(!p.allows(&"album:zz:write".parse().unwrap()));
        assert!(p.allows(&ScopeItem::User));
    }

    #[test]
    fn the_builtin_client_only_refreshes() {
        let c = Client::builtin();
        assert!(c.is_public && c.allows_grant(GrantType::RefreshToken));
        assert!(!c.allows_grant(GrantType::ClientCredentials));
    }
}
