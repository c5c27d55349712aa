//! The token endpoint's grants, driven by oxide-auth-async's `RefreshFlow` and
//! `ClientCredentialsFlow` over tessera's own Registrar (clients in the database) and Issuer
//! (refresh tokens in the database, JWT access tokens).
//!
//! oxide-auth primitives answer `Result<_, ()>`, which would turn every refusal into a bare 500.
//! So the registrar and issuer share a request-scoped [`Scratch`]: they leave the precise
//! [`OAuthError`] (or the issued tokens) there, and [`run`] builds the answer from it after the
//! flow returns. See docs/architecture.md, "oxide-auth at the edges".

use std::borrow::Cow;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oxide_auth::endpoint::{
    OAuthError as FlowError, OwnerConsent, Scopes, Solicitation, Template, WebRequest,
};
use oxide_auth::primitives::grant::Grant;
use oxide_auth::primitives::issuer::{IssuedToken, RefreshedToken, TokenType};
use oxide_auth::primitives::registrar::{
    BoundClient, ClientUrl, PreGrant, RegisteredUrl, RegistrarError,
};
use oxide_auth::primitives::scope::Scope as FlowScope;
use oxide_auth_async::endpoint::client_credentials::ClientCredentialsFlow;
use oxide_auth_async::endpoint::refresh::RefreshFlow;
use oxide_auth_async::endpoint::{Endpoint, OwnerSolicitor};
use oxide_auth_async::primitives::{Authorizer, Issuer, Registrar};
use url::Url;

use super::client_auth::{self, CheckFailure, KnownClient};
use super::grants::{self, Issued, Recovered};
use super::scope::Scope;
use super::OAuthError;
use crate::domain::minting;
use crate::state::AppState;

/// Which grant the request asked for (already validated at the edge).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantKind {
    RefreshToken,
    ClientCredentials,
}

/// A successful token response, before it is written as JSON.
pub struct TokenResponse {
    pub access_token: String,
    pub expires_in: i64,
    pub scope: Scope,
    pub refresh_token: Option<String>,
}

/// What the registrar and issuer leave for the frontend during one request.
#[derive(Default)]
struct Scratch {
    failure: Mutex<Option<OAuthError>>,
    client: Mutex<Option<KnownClient>>,
    recovered: Mutex<Option<Recovered>>,
    cc_scope: Mutex<Option<Scope>>,
    issued: Mutex<Option<Issued>>,
}

fn put<T>(slot: &Mutex<Option<T>>, v: T) {
    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(v);
}
fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().unwrap_or_else(|p| p.into_inner()).take()
}
fn peek<T: Clone>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

impl Scratch {
    /// Records the first failure; later ones are consequences of it.
    fn fail(&self, e: OAuthError) {
        let mut slot = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(e);
        }
    }
}

struct DbRegistrar<'a> {
    state: &'a AppState,
    scratch: &'a Scratch,
    requested: Option<&'a Scope>,
    issuer_url: &'a Url,
    source: &'a str,
}

#[async_trait]
impl Registrar for DbRegistrar<'_> {
    async fn bound_redirect<'b>(
        &self,
        bound: ClientUrl<'b>,
    ) -> Result<BoundClient<'b>, RegistrarError> {
        // Neither grant uses redirection; oxide-auth's Grant still wants a URL, so the issuer's.
        Ok(BoundClient {
            client_id: bound.client_id,
            redirect_uri: Cow::Owned(RegisteredUrl::Semantic(self.issuer_url.clone())),
        })
    }

    async fn negotiate<'b>(
        &self,
        client: BoundClient<'b>,
        _scope: Option<FlowScope>,
    ) -> Result<PreGrant, RegistrarError> {
        let Some(known) = peek(&self.scratch.client) else {
            self.scratch
                .fail(OAuthError::invalid_client("client authentication failed"));
            return Err(RegistrarError::Unspecified);
        };
        match grants::client_credentials_scope(&known, self.requested) {
            Ok(scope) => {
                let flow_scope = to_flow_scope(&scope).map_err(|e| {
                    self.scratch.fail(e);
                    RegistrarError::PrimitiveError
                })?;
                put(&self.scratch.cc_scope, scope);
                Ok(PreGrant {
                    client_id: client.client_id.into_owned(),
                    redirect_uri: client.redirect_uri.into_owned(),
                    scope: flow_scope,
                })
            }
            Err(e) => {
                self.scratch.fail(e);
                Err(RegistrarError::Unspecified)
            }
        }
    }

    async fn check(
        &self,
        client_id: &str,
        passphrase: Option<&[u8]>,
    ) -> Result<(), RegistrarError> {
        match client_auth::check(self.state, client_id, passphrase).await {
            Ok(c) => {
                put(&self.scratch.client, c);
                Ok(())
            }
            Err(CheckFailure::Rejected) => {
                self.scratch
                    .fail(client_auth::refusal(self.state, client_id, self.source));
                Err(RegistrarError::Unspecified)
            }
            Err(CheckFailure::Store(e)) => {
                self.scratch.fail(e);
                Err(RegistrarError::PrimitiveError)
            }
        }
    }
}

struct DbIssuer<'a> {
    state: &'a AppState,
    scratch: &'a Scratch,
    requested: Option<&'a Scope>,
    issuer_url: &'a Url,
    now: DateTime<Utc>,
}

#[async_trait]
impl Issuer for DbIssuer<'_> {
    /// client_credentials: the client is the subject.
    async fn issue(&mut self, grant: Grant) -> Result<IssuedToken, ()> {
        let scope = take(&self.scratch.cc_scope).unwrap_or_default();
        let minted = minting::mint(
            self.state,
            &minting::Grant {
                subject: &grant.client_id,
                client_id: &grant.client_id,
                scope: &scope,
                refresh_row: None,
                not_after: None,
            },
            self.now,
        );
        match minted {
            Ok(access) => {
                let until = access.expires_at;
                let token = access.jwt.clone();
                put(
                    &self.scratch.issued,
                    Issued {
                        access,
                        refresh: None,
                        scope,
                    },
                );
                Ok(IssuedToken {
                    token,
                    refresh: None,
                    until,
                    token_type: TokenType::Bearer,
                })
            }
            Err(e) => {
                self.scratch.fail(e.into());
                Err(())
            }
        }
    }

    async fn refresh(&mut self, _token: &str, _grant: Grant) -> Result<RefreshedToken, ()> {
        let Some(rec) = take(&self.scratch.recovered) else {
            self.scratch.fail(OAuthError::server_error());
            return Err(());
        };
        match grants::complete(self.state, &rec, self.now).await {
            Ok(issued) => {
                let out = RefreshedToken {
                    token: issued.access.jwt.clone(),
                    refresh: issued.refresh.as_ref().map(|s| s.expose().to_string()),
                    until: issued.access.expires_at,
                    token_type: TokenType::Bearer,
                };
                put(&self.scratch.issued, issued);
                Ok(out)
            }
            Err(e) => {
                self.scratch.fail(e);
                Err(())
            }
        }
    }

    async fn recover_token(&mut self, _: &str) -> Result<Option<Grant>, ()> {
        // Access tokens are JWTs checked by introspection, not through the flow.
        Ok(None)
    }

    async fn recover_refresh(&mut self, token: &str) -> Result<Option<Grant>, ()> {
        let client = peek(&self.scratch.client);
        match grants::recover(self.state, token, self.requested, client.as_ref(), self.now).await {
            Ok(rec) => {
                let scope = to_flow_scope(&rec.ceiling).map_err(|e| self.scratch.fail(e))?;
                let until = rec
                    .row
                    .expires_at
                    .unwrap_or_else(|| self.now + chrono::Duration::days(365 * 100));
                let grant = Grant {
                    owner_id: rec.owner.name.clone(),
                    client_id: rec.bound_client_id.clone(),
                    scope,
                    redirect_uri: self.issuer_url.clone(),
                    until,
                    extensions: Default::default(),
                };
                put(&self.scratch.recovered, rec);
                Ok(Some(grant))
            }
            Err(e) => {
                self.scratch.fail(e);
                Err(())
            }
        }
    }
}

/// In client_credentials the client is its own resource owner.
struct ClientIsOwner;

impl<R: WebRequest> oxide_auth::endpoint::OwnerSolicitor<R> for ClientIsOwner {
    fn check_consent(&mut self, _: &mut R, s: Solicitation) -> OwnerConsent<R::Response> {
        OwnerConsent::Authorized(s.pre_grant().client_id.clone())
    }
}

struct TokenEndpoint<'a> {
    registrar: DbRegistrar<'a>,
    issuer: DbIssuer<'a>,
    solicitor: ClientIsOwner,
}

/// The flows' own error, when they give up without a response.
#[derive(Debug)]
pub struct FlowFailed;

impl<R> Endpoint<R> for TokenEndpoint<'_>
where
    R: WebRequest + Send,
    R::Response: Default,
{
    type Error = FlowFailed;

    fn registrar(&self) -> Option<&(dyn Registrar + Sync)> {
        Some(&self.registrar)
    }
    fn authorizer_mut(&mut self) -> Option<&mut (dyn Authorizer + Send)> {
        None
    }
    fn issuer_mut(&mut self) -> Option<&mut (dyn Issuer + Send)> {
        Some(&mut self.issuer)
    }
    fn owner_solicitor(&mut self) -> Option<&mut (dyn OwnerSolicitor<R> + Send)> {
        Some(&mut self.solicitor)
    }
    fn scopes(&mut self) -> Option<&mut dyn Scopes<R>> {
        None
    }
    fn response(&mut self, _: &mut R, _: Template) -> Result<R::Response, FlowFailed> {
        Ok(R::Response::default())
    }
    fn error(&mut self, _: FlowError) -> FlowFailed {
        FlowFailed
    }
    fn web_error(&mut self, _: R::Error) -> FlowFailed {
        FlowFailed
    }
}

/// What the flow's own response said, as far as the frontend needs it.
pub trait FlowResponse {
    /// The HTTP status the flow chose (200, 400 or 401).
    fn status(&self) -> u16;
    /// The `error` field of the flow's JSON body, if it answered with an error.
    fn error_code(&self) -> Option<String>;
}

/// Runs one token request through the matching oxide-auth flow.
pub async fn run<R>(
    state: &AppState,
    kind: GrantKind,
    request: R,
    requested: Option<&Scope>,
    source: &str,
) -> Result<TokenResponse, OAuthError>
where
    R: WebRequest + Send + Sync,
    R::Error: Send + Sync,
    R::Response: Default + FlowResponse + Send,
{
    let issuer_url = Url::parse(&state.settings.issuer).map_err(|_| OAuthError::server_error())?;
    let scratch = Scratch::default();
    let now = state.clock.now();
    let endpoint = TokenEndpoint {
        registrar: DbRegistrar {
            state,
            scratch: &scratch,
            requested,
            issuer_url: &issuer_url,
            source,
        },
        issuer: DbIssuer {
            state,
            scratch: &scratch,
            requested,
            issuer_url: &issuer_url,
            now,
        },
        solicitor: ClientIsOwner,
    };
    let outcome = match kind {
        GrantKind::RefreshToken => match RefreshFlow::prepare(endpoint) {
            Ok(mut flow) => flow.execute(request).await,
            Err(e) => Err(e),
        },
        GrantKind::ClientCredentials => match ClientCredentialsFlow::prepare(endpoint) {
            Ok(mut flow) => flow.execute(request).await,
            Err(e) => Err(e),
        },
    };
    if let Some(failure) = take(&scratch.failure) {
        return Err(failure);
    }
    match outcome {
        Ok(resp) if resp.status() == 200 => {
            let issued = take(&scratch.issued).ok_or_else(OAuthError::server_error)?;
            Ok(TokenResponse {
                access_token: issued.access.jwt,
                expires_in: (issued.access.expires_at.timestamp() - now.timestamp()).max(0),
                scope: issued.scope,
                refresh_token: issued.refresh.map(|s| s.expose().to_string()),
            })
        }
        Ok(resp) => Err(translate_flow_error(&resp)),
        Err(FlowFailed) => Err(OAuthError::server_error()),
    }
}

/// Refusals the flow made on its own, with the description it does not give.
fn translate_flow_error(resp: &impl FlowResponse) -> OAuthError {
    if resp.status() == 401 {
        return OAuthError::invalid_client("client authentication failed");
    }
    match resp.error_code().as_deref() {
        Some("invalid_grant") => {
            OAuthError::invalid_grant("refresh token was issued to another client")
        }
        Some("invalid_scope") => {
            OAuthError::invalid_scope("requested scope exceeds what the refresh token grants")
        }
        Some("unsupported_grant_type") => OAuthError::new(
            super::ErrorCode::UnsupportedGrantType,
            "unsupported grant_type",
        ),
        Some("invalid_client") => OAuthError::invalid_client("client authentication failed"),
        _ => OAuthError::invalid_request("malformed token request"),
    }
}

/// Our grammar is a subset of RFC 6749's scope characters, so this fails only on a bug.
fn to_flow_scope(s: &Scope) -> Result<FlowScope, OAuthError> {
    s.to_string()
        .parse()
        .map_err(|_| OAuthError::server_error())
}
