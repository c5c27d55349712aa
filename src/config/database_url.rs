//! The database URL setting, and hiding the password a URL may carry wherever one is shown.

/// A database URL. Its `Debug` hides the password a PostgreSQL URL may carry, so `Settings` can
/// derive `Debug` and every field added later is printed without a second place to update.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Accepts `sqlite:`, `postgres://` and `postgresql://` URLs; the reason otherwise.
    pub(super) fn parse(v: String) -> Result<Self, String> {
        if v.starts_with("sqlite:")
            || v.starts_with("postgres://")
            || v.starts_with("postgresql://")
        {
            Ok(Self(v))
        } else {
            Err("not a sqlite: or postgres:// URL".into())
        }
    }

    pub(super) fn sqlite_default() -> Self {
        Self("sqlite://tessera.db?mode=rwc".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for DatabaseUrl {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&redact_url_password(&self.0), f)
    }
}

/// `scheme://user:secret@host/db` → `scheme://user:***@host/db`; other strings unchanged.
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_password_is_hidden() {
        assert_eq!(
            redact_url_password("postgres://tessera:hunter2@db.internal:5432/t"),
            "postgres://tessera:***@db.internal:5432/t"
        );
        assert_eq!(
            redact_url_password("sqlite://t.db?mode=rwc"),
            "sqlite://t.db?mode=rwc"
        );
        assert_eq!(redact_url_password("postgres://u@h/d"), "postgres://u@h/d");
    }
}
