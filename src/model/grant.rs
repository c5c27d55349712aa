//! The grant types tessera serves (RFC 6749 §4, §6): one enum for the token endpoint, client
//! registration, the metadata document and the metrics.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GrantType {
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    /// Every grant the token endpoint serves, in the order the metadata lists them.
    pub const ALL: [GrantType; 2] = [GrantType::RefreshToken, GrantType::ClientCredentials];

    /// The `grant_type` value on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        }
    }

    /// `refresh_token, client_credentials`: for messages that list what is accepted.
    pub fn listed(separator: &str) -> String {
        GrantType::ALL
            .iter()
            .map(|g| g.as_str())
            .collect::<Vec<_>>()
            .join(separator)
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `grant_type` value tessera does not serve.
#[derive(Debug, PartialEq, Eq)]
pub struct UnknownGrantType;

impl FromStr for GrantType {
    type Err = UnknownGrantType;
    fn from_str(s: &str) -> Result<Self, UnknownGrantType> {
        GrantType::ALL
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or(UnknownGrantType)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_others() {
        for g in GrantType::ALL {
            assert_eq!(g.as_str().parse::<GrantType>(), Ok(g));
        }
        assert_eq!("password".parse::<GrantType>(), Err(UnknownGrantType));
        assert_eq!(
            GrantType::listed(" or "),
            "refresh_token or client_credentials"
        );
    }
}
