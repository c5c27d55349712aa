//! The token management API under `/api`: personal and album tokens, administration, audit.
//! Callers authenticate with HTTP Basic (user name and password) or a Bearer access token whose
//! scope contains `user`.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;

use super::error::{self, json_response, no_store};
use super::{finish, Incoming};
use crate::domain::accounts;
use crate::domain::caller::{self, Caller, Credential};
use crate::domain::management::{self, Created, Expiry, NewAlbumToken, NewPersonal, Page};
use crate::domain::{audit, AppState, Error};
use crate::model::basic;

async fn caller(state: &AppState, inc: &Incoming) -> Result<Caller, Error> {
    let header = inc.header("authorization").ok_or_else(|| {
        Error::Unauthenticated(
            "authenticate with HTTP Basic (user and password) or a Bearer access token".into(),
        )
    })?;
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("bearer") {
        return caller::authenticate_bearer(state, rest.trim()).await;
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Error::Unauthenticated(
            "unsupported Authorization scheme; use Basic or Bearer".into(),
        ));
    }
    let (name, password) = basic::decode(rest)
        .ok_or_else(|| Error::Unauthenticated("malformed HTTP Basic credentials".into()))?;
    caller::authenticate_password(state, &name, &password, &inc.source()).await
}

fn json_body<T: for<'de> Deserialize<'de>>(inc: &Incoming) -> Result<T, Error> {
    let ct = inc.header("content-type").unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/json") {
        return Err(Error::InvalidRequest(
            "the request body must be application/json".into(),
        ));
    }
    serde_json::from_slice(&inc.body)
        .map_err(|e| Error::InvalidRequest(format!("invalid JSON body: {e}")))
}

fn query<T: for<'de> Deserialize<'de>>(inc: &Incoming) -> Result<T, Error> {
    serde_urlencoded::from_str(&inc.query)
        .map_err(|e| Error::InvalidRequest(format!("invalid query: {e}")))
}

fn expiry(
    expires_in: Option<i64>,
    expires_at: Option<&str>,
    never: Option<bool>,
) -> Result<Expiry, Error> {
    match (expires_in, expires_at, never.unwrap_or(false)) {
        (None, None, false) => Ok(Expiry::Default),
        (Some(s), None, false) => Ok(Expiry::In(s)),
        (None, Some(t), false) => DateTime::parse_from_rfc3339(t)
            .map(|t| Expiry::At(t.with_timezone(&Utc)))
            .map_err(|_| Error::InvalidRequest("expires_at must be an RFC 3339 date-time".into())),
        (None, None, true) => Ok(Expiry::Never),
        _ => Err(Error::InvalidRequest(
            "give at most one of expires_in, expires_at and never_expires".into(),
        )),
    }
}

fn created(c: Created) -> Response {
    let mut body = serde_json::to_value(&c.view).unwrap_or_default();
    body["token"] = c.token.expose().into();
    no_store(json_response(StatusCode::CREATED, &body))
}

fn ok_json<T: serde::Serialize>(v: &T) -> Response {
    no_store(json_response(
        StatusCode::OK,
        &serde_json::to_value(v).unwrap_or_default(),
    ))
}

fn listed<T: serde::Serialize>(items: &[T], total: u64) -> Response {
    let mut r = ok_json(&items);
    if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
        r.headers_mut().insert("x-total-count", v);
    }
    r
}

fn no_content() -> Response {
    let mut r = Response::new(Default::default());
    *r.status_mut() = StatusCode::NO_CONTENT;
    no_store(r)
}

fn respond(
    state: &AppState,
    route: &'static str,
    inc: &Incoming,
    r: Result<Response, Error>,
) -> Response {
    let r = r.unwrap_or_else(error::api);
    finish(state, route, inc, r)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTokenBody {
    name: String,
    scope: String,
    expires_in: Option<i64>,
    expires_at: Option<String>,
    never_expires: Option<bool>,
    rotating: Option<bool>,
    client_id: Option<String>,
}

/// POST /api/tokens
#[tracing::instrument(skip_all)]
pub async fn create_token(state: AppState, inc: Incoming) -> Response {
    let r = async {
        let who = caller(&state, &inc).await?;
        let b: CreateTokenBody = json_body(&inc)?;
        let req = NewPersonal {
            name: b.name,
            scope: b.scope,
            expiry: expiry(b.expires_in, b.expires_at.as_deref(), b.never_expires)?,
            rotating: b.rotating.unwrap_or(false),
            client_id: b.client_id,
        };
        management::create_personal(&state, &who, req)
            .await
            .map(created)
    }
    .await;
    respond(&state, "api_create_token", &inc, r)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    limit: Option<u64>,
    offset: Option<u64>,
    status: Option<String>,
    user: Option<String>,
}

/// GET /api/tokens
#[tracing::instrument(skip_all)]
pub async fn list_tokens(state: AppState, inc: Incoming) -> Response {
    let r = async {
        let who = caller(&state, &inc).await?;
        let q: ListParams = query(&inc)?;
        let status = management::parse_status(q.status.as_deref())?;
        let page = Page::parse(q.limit, q.offset)?;
        let (items, total) =
            management::list_tokens(&state, &who, q.user.as_deref(), status, page).await?;
        Ok(listed(&items, total))
    }
    .await;
    respond(&state, "api_list_tokens", &inc, r)
}

/// GET /api/tokens/{id}
#[tracing::instrument(skip_all)]
pub async fn show_token(id: String, state: AppState, inc: Incoming) -> Response {
    let r = async {
        let who = caller(&state, &inc).await?;
        management::show(&state, &who, &id)
            .await
            .map(|v| ok_json(&v))
    }
    .await;
    respond(&state, "api_show_token", &inc, r)
}

/// DELETE /api/tokens/{id}
#[tracing::instrument(skip_all)]
pub async fn revoke_token(id: String, state: AppState, inc: Incoming) -> Response {
    let r = async {
        let who = caller(&state, &inc).await?;
        management::revoke(&state, &who, &id)
            .await
            .map(|()| no_content())
    }
    .await;
    respond(&state, "api_revoke_token", &inc, r)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlbumTokenBody {
    name: String,
    permissions: Vec<String>,
    expires_in: Option<i64>,
    expires_at: Option<String>,
    never_expires: Option<bool>,
    rotating: Option<bool>,
}

/// POST /api/albums/{album_id}/tokens
#[tracing::instrument(skip_all)]
pub async fn create_album_token(album: String, state: AppState, inc: Incoming) -> Response {
    let r = async {
        let who = caller(&state, &inc).await?;
        let b: AlbumTokenBody = json_body(&inc)?;
        let req = NewAlbumToken {
            name: b.name,
            permissions: b.permissions,
            expiry: expiry(b.expires_in, b.expires_at.as_deref(), b.never_expires)?,
            rotating: b.rotating.unwrap_or(false),
        };
        management::create_album_token(&state, &who, &album, req)
            .await
            .map(created)
    }
    .await;
    respond(&state, "api_create_album_token", &inc, r)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageParams {
    limit: Option<u64>,
    offset: Option<u64>,
    status: Option<String>,
}

/// GET /api/albums/{album_id}/tokens
#[tracing::instrument(skip_all)]
pub async fn list_album_tokens(album: String, state: AppState, inc: Incoming) -> Response {
    let r = async {
        let who = caller(&state, &inc).await?;
        let q: PageParams = query(&inc)?;
        let status = management::parse_status(q.status.as_deref())?;
        let page = Page::parse(q.limit, q.offset)?;
        let (items, total) =
            management::list_album_tokens(&state, &who, &album, status, page).await?;
        Ok(listed(&items, total))
    }
    .await;
    respond(&state, "api_list_album_tokens", &inc, r)
}

fn require_admin(who: &Caller) -> Result<(), Error> {
    if who.is_admin() {
        Ok(())
    } else if who.user.is_admin {
        Err(Error::InsufficientScope {
            needed: "user admin",
            description:
                "admin routes need the admin scope; this token's scope does not include admin"
                    .into(),
        })
    } else {
        Err(Error::Forbidden("this needs the admin flag".into()))
    }
}

/// GET /api/users/{name}/tokens (admins)
#[tracing::instrument(skip_all)]
pub async fn list_user_tokens(user: String, state: AppState, inc: Incoming) -> Response {
    let r = async {
        let who = caller(&state, &inc).await?;
        require_admin(&who)?;
        let q: PageParams = query(&inc)?;
        let status = management::parse_status(q.status.as_deref())?;
        let page = Page::parse(q.limit, q.offset)?;
        let (items, total) =
            management::list_tokens(&state, &who, Some(&user), status, page).await?;
        Ok(listed(&items, total))
    }
    .await;
    respond(&state, "api_list_user_tokens", &inc, r)
}

/// DELETE /api/users/{name}/tokens (admins): revoke every token of the user.
#[tracing::instrument(skip_all)]
pub async fn revoke_user_tokens(user: String, state: AppState, inc: Incoming) -> Response {
    let r = async {
        let who = caller(&state, &inc).await?;
        require_admin(&who)?;
        let n = management::revoke_all_of_user(&state, &who.actor(), &user).await?;
        Ok(ok_json(&serde_json::json!({ "revoked": n })))
    }
    .await;
    respond(&state, "api_revoke_user_tokens", &inc, r)
}

/// POST /api/users/{name}/disable (admins)
#[tracing::instrument(skip_all)]
pub async fn disable_user(user: String, state: AppState, inc: Incoming) -> Response {
    let r = set_user_disabled(&state, &inc, &user, true).await;
    respond(&state, "api_disable_user", &inc, r)
}

/// POST /api/users/{name}/enable (admins)
#[tracing::instrument(skip_all)]
pub async fn enable_user(user: String, state: AppState, inc: Incoming) -> Response {
    let r = set_user_disabled(&state, &inc, &user, false).await;
    respond(&state, "api_enable_user", &inc, r)
}

async fn set_user_disabled(
    state: &AppState,
    inc: &Incoming,
    user: &str,
    disabled: bool,
) -> Result<Response, Error> {
    let who = caller(state, inc).await?;
    require_admin(&who)?;
    if user == who.user.name {
        return Err(Error::Conflict(
            "admins cannot disable or enable themselves".into(),
        ));
    }
    let u = accounts::set_disabled(state, &who.actor(), user, disabled).await?;
    Ok(ok_json(&serde_json::json!({
        "name": u.name, "disabled": u.disabled_at.is_some(), "disabled_at": u.disabled_at,
    })))
}

/// DELETE /api/users/{name} (admins): revoke everything of the user and delete them.
#[tracing::instrument(skip_all)]
pub async fn delete_user(user: String, state: AppState, inc: Incoming) -> Response {
    let r = async {
        let who = caller(&state, &inc).await?;
        require_admin(&who)?;
        if user == who.user.name {
            return Err(Error::Conflict("admins cannot delete themselves".into()));
        }
        let n = accounts::delete_user(&state, &who.actor(), &user).await?;
        Ok(ok_json(
            &serde_json::json!({ "name": user, "deleted": true, "revoked": n }),
        ))
    }
    .await;
    respond(&state, "api_delete_user", &inc, r)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    limit: Option<u64>,
    offset: Option<u64>,
    action: Option<String>,
    target: Option<String>,
}

/// GET /api/audit (admins)
#[tracing::instrument(skip_all)]
pub async fn audit(state: AppState, inc: Incoming) -> Response {
    let r = async {
        let who = caller(&state, &inc).await?;
        require_admin(&who)?;
        let q: AuditParams = query(&inc)?;
        let page = Page::parse(q.limit, q.offset)?;
        let (items, total) =
            audit::list(&state, q.action.as_deref(), q.target.as_deref(), page).await?;
        Ok(listed(&items, total))
    }
    .await;
    respond(&state, "api_audit", &inc, r)
}

/// GET /api/me: who the credential belongs to.
#[tracing::instrument(skip_all)]
pub async fn me(state: AppState, inc: Incoming) -> Response {
    let r = async {
        let who = caller(&state, &inc).await?;
        let (credential, token) = match &who.credential {
            Credential::Password => ("password", None),
            Credential::Operator => ("operator", None),
            Credential::Bearer { family_id, .. } => ("bearer", Some(family_id.clone())),
        };
        Ok(ok_json(&serde_json::json!({
            "name": who.user.name, "admin": who.is_admin(),
            "credential": credential, "token_id": token,
        })))
    }
    .await;
    respond(&state, "api_me", &inc, r)
}
