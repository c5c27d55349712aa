//! The token request (RFC 6749 §6, §4.4), parsed once at the edge into one variant per grant.

use super::client_auth::ClientCredentials;
use super::{ErrorCode, OAuthError};
use crate::model::{GrantType, Scope};

/// A token request: how the client identified itself, and what it asked for.
/// No `Debug`: it holds a refresh token and possibly a client secret.
pub struct TokenRequest {
    pub client: ClientCredentials,
    pub grant: GrantRequest,
}

/// One variant per grant, with the parameters that grant takes.
pub enum GrantRequest {
    /// RFC 6749 §6.
    RefreshToken {
        refresh_token: String,
        /// A narrower scope than the token's, if asked for.
        scope: Option<Scope>,
    },
    /// RFC 6749 §4.4: the client acts for itself.
    ClientCredentials { scope: Option<Scope> },
}

impl GrantRequest {
    pub fn grant_type(&self) -> GrantType {
        match self {
            GrantRequest::RefreshToken { .. } => GrantType::RefreshToken,
            GrantRequest::ClientCredentials { .. } => GrantType::ClientCredentials,
        }
    }
}

impl TokenRequest {
    /// Parses the form parameters (`param` looks one up; each occurs at most once) and the
    /// `Authorization` header. The checks run in a fixed order, so a request with several
    /// faults always gets the same error: grant type, its required parameter, the client
    /// credentials, then the scope.
    pub fn parse<'a>(
        param: impl Fn(&str) -> Option<&'a str>,
        authorization: Option<&str>,
    ) -> Result<Self, OAuthError> {
        let grant_type = match param("grant_type") {
            None => return Err(OAuthError::invalid_request("grant_type is required")),
            Some(g) => g.parse::<GrantType>().map_err(|_| {
                let shown: String = g.chars().filter(|c| !c.is_control()).take(40).collect();
                OAuthError::new(
                    ErrorCode::UnsupportedGrantType,
                    format!(
                        "grant_type {shown:?} is not supported; use {}",
                        GrantType::listed(" or ")
                    ),
                )
            })?,
        };
        let refresh_token = match grant_type {
            GrantType::RefreshToken => Some(
                param("refresh_token")
                    .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?,
            ),
            GrantType::ClientCredentials => None,
        };
        let client = ClientCredentials::from_request(
            authorization,
            param("client_id"),
            param("client_secret"),
        )?;
        if grant_type == GrantType::ClientCredentials && matches!(client, ClientCredentials::None) {
            return Err(OAuthError::invalid_client(
                "client_credentials needs client authentication",
            ));
        }
        let scope = param("scope")
            .map(Scope::parse)
            .transpose()
            .map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
        let grant = match refresh_token {
            Some(t) => GrantRequest::RefreshToken {
                refresh_token: t.to_string(),
                scope,
            },
            None => GrantRequest::ClientCredentials { scope },
        };
        Ok(TokenRequest { client, grant })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn parse(
        pairs: &[(&str, &str)],
        authorization: Option<&str>,
    ) -> Result<TokenRequest, OAuthError> {
        let form: BTreeMap<&str, &str> = pairs.iter().copied().collect();
        TokenRequest::parse(|k| form.get(k).copied(), authorization)
    }

    #[test]
    fn one_variant_per_grant() {
        let r = parse(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "tsr_x"),
                ("scope", "user"),
            ],
            None,
        )
        .unwrap();
        assert!(matches!(r.client, ClientCredentials::None));
        match r.grant {
            GrantRequest::RefreshToken {
                refresh_token,
                scope,
            } => {
                assert_eq!(refresh_token, "tsr_x");
                assert_eq!(scope.unwrap().to_string(), "user");
            }
            GrantRequest::ClientCredentials { .. } => panic!("wrong variant"),
        }
        let r = parse(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "svc"),
                ("client_secret", "s"),
            ],
            None,
        )
        .unwrap();
        assert_eq!(r.grant.grant_type(), GrantType::ClientCredentials);
    }

    #[test]
    fn faults_are_reported_in_a_fixed_order() {
        let e = parse(&[("scope", "bogus")], None).err().unwrap();
        assert_eq!(
            (e.code, e.description.as_str()),
            (ErrorCode::InvalidRequest, "grant_type is required")
        );
        let e = parse(&[("grant_type", "password\u{7}")], None)
            .err()
            .unwrap();
        assert_eq!(e.code, ErrorCode::UnsupportedGrantType);
        assert_eq!(
            e.description,
            "grant_type \"password\" is not supported; use refresh_token or client_credentials"
        );
        let e = parse(&[("grant_type", "refresh_token"), ("scope", "bogus")], None)
            .err()
            .unwrap();
        assert_eq!(e.description, "refresh_token is required");
        let e = parse(
            &[("grant_type", "client_credentials"), ("scope", "bogus")],
            None,
        )
        .err()
        .unwrap();
        assert_eq!(e.code, ErrorCode::InvalidClient);
        let e = parse(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "a"),
                ("client_secret", "b"),
                ("scope", "bogus"),
            ],
            None,
        )
        .err()
        .unwrap();
        assert_eq!(e.code, ErrorCode::InvalidScope);
    }
}
