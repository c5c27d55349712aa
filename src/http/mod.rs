//! The warp edge: routes (filters that only route and extract), handlers, the JSON error
//! mapping, and the server that serves the routes.

mod api;
pub mod error;
pub mod form;
mod meta;
mod oauth_routes;
pub mod server;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use warp::http::HeaderMap;
use warp::reply::Response;
use warp::{Buf, Filter, Rejection};

use crate::domain::AppState;
use error::BodyRejection;
use server::PeerAddr;

/// What a handler needs of a request besides its path.
pub struct Incoming {
    pub headers: HeaderMap,
    pub remote: Option<SocketAddr>,
    pub body: Bytes,
    pub query: String,
    started: Instant,
}

impl Incoming {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The source address used as a rate-limiting key.
    pub fn source(&self) -> String {
        self.remote
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|| "unknown".into())
    }
}

/// Records the request in the metrics and returns the response.
pub fn finish(state: &AppState, route: &'static str, inc: &Incoming, r: Response) -> Response {
    state.metrics.observe(
        route,
        r.status().as_u16(),
        inc.started.elapsed().as_secs_f64(),
    );
    r
}

fn with_state(state: AppState) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// Reads the body up to `max` bytes (also when no Content-Length is sent) within `timeout`, plus
/// headers, peer address and raw query.
fn incoming(
    max: u64,
    timeout: Duration,
) -> impl Filter<Extract = (Incoming,), Error = Rejection> + Clone {
    warp::header::headers_cloned()
        .and(warp::ext::optional::<PeerAddr>())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::body::stream())
        .and_then(
            move |headers: HeaderMap, peer: Option<PeerAddr>, query: String, body| async move {
                let started = Instant::now();
                let declared = headers
                    .get(warp::http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                if declared.is_some_and(|n| n > max) {
                    return Err(warp::reject::custom(BodyRejection::TooLarge(max)));
                }
                // The whole body, not each chunk: a byte every few seconds must not keep a
                // request alive.
                let body = tokio::time::timeout(timeout, collect_limited(body, max))
                    .await
                    .map_err(|_| warp::reject::custom(BodyRejection::TimedOut(timeout)))??;
                Ok::<_, Rejection>(Incoming {
                    headers,
                    remote: peer.map(|p| p.0),
                    body,
                    query,
                    started,
                })
            },
        )
}

async fn collect_limited<S, B>(body: S, max: u64) -> Result<Bytes, Rejection>
where
    S: futures::Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut body = Box::pin(body);
    let mut buf = Vec::new();
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|_| warp::reject::custom(BodyRejection::Unreadable))?;
        if (buf.len() + chunk.remaining()) as u64 > max {
            return Err(warp::reject::custom(BodyRejection::TooLarge(max)));
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            let n = part.len();
            buf.extend_from_slice(part);
            chunk.advance(n);
        }
    }
    Ok(Bytes::from(buf))
}

/// Every route of tessera, with the rejection handler.
pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (impl warp::Reply,), Error = Infallible> + Clone {
    let max = state.settings.max_body_bytes;
    let body_timeout = state.settings.body_read_timeout.to_std();
    // Every handler's future is boxed: the combined route future is as large as the largest
    // handler future (the grants nest several awaits deep), and hyper and warp move it several
    // times per request; the profile showed ~18 % of a refresh request's instructions in those
    // copies before the handlers were boxed.
    let s = move || with_state(state.clone());
    let inc = move || incoming(max, body_timeout);

    // GET /healthz
    let healthz = warp::path!("healthz")
        .and(warp::get())
        .and(s())
        .and(inc())
        .then(|s, i| Box::pin(meta::healthz(s, i)));
    // GET /readyz
    let readyz = warp::path!("readyz")
        .and(warp::get())
        .and(s())
        .and(inc())
        .then(|s, i| Box::pin(meta::readyz(s, i)));
    // GET /.well-known/oauth-authorization-server
    let metadata = warp::path!(".well-known" / "oauth-authorization-server")
        .and(warp::get())
        .and(s())
        .and(inc())
        .then(|s, i| Box::pin(meta::metadata(s, i)));
    // GET /.well-known/jwks.json
    let jwks = warp::path!(".well-known" / "jwks.json")
        .and(warp::get())
        .and(s())
        .and(inc())
        .then(|s, i| Box::pin(meta::jwks(s, i)));
    // GET /metrics
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(s())
        .and(inc())
        .then(|s, i| Box::pin(meta::metrics(s, i)));
    // POST /oauth/token
    let token = warp::path!("oauth" / "token")
        .and(warp::post())
        .and(s())
        .and(inc())
        .then(|s, i| Box::pin(oauth_routes::token(s, i)));
    // POST /oauth/revoke
    let revoke = warp::path!("oauth" / "revoke")
        .and(warp::post())
        .and(s())
        .and(inc())
        .then(|s, i| Box::pin(oauth_routes::revoke(s, i)));
    // POST /oauth/introspect
    let introspect = warp::path!("oauth" / "introspect")
        .and(warp::post())
        .and(s())
        .and(inc())
        .then(|s, i| Box::pin(oauth_routes::introspect(s, i)));

    // POST /api/tokens
    let create_token = warp::path!("api" / "tokens")
        .and(warp::post())
        .and(s())
        .and(inc())
        .then(|s, i| Box::pin(api::create_token(s, i)));
    // GET /api/tokens
    let list_tokens = warp::path!("api" / "tokens")
        .and(warp::get())
        .and(s())
        .and(inc())
        .then(|s, i| Box::pin(api::list_tokens(s, i)));
    // GET /api/tokens/{id}
    let show_token = warp::path!("api" / "tokens" / String)
        .and(warp::get())
        .and(s())
        .and(inc())
        .then(|p, s, i| Box::pin(api::show_token(p, s, i)));
    // DELETE /api/tokens/{id}
    let revoke_token = warp::path!("api" / "tokens" / String)
        .and(warp::delete())
        .and(s())
        .and(inc())
        .then(|p, s, i| Box::pin(api::revoke_token(p, s, i)));
    // POST /api/albums/{album_id}/tokens
    let create_album_token = warp::path!("api" / "albums" / String / "tokens")
        .and(warp::post())
        .and(s())
        .and(inc())
        .then(|p, s, i| Box::pin(api::create_album_token(p, s, i)));
    // GET /api/albums/{album_id}/tokens
    let list_album_tokens = warp::path!("api" / "albums" / String / "tokens")
        .and(warp::get())
        .and(s())
        .and(inc())
        .then(|p, s, i| Box::pin(api::list_album_tokens(p, s, i)));
    // GET /api/users/{name}/tokens (admins)
    let list_user_tokens = warp::path!("api" / "users" / String / "tokens")
        .and(warp::get())
        .and(s())
        .and(inc())
        .then(|p, s, i| Box::pin(api::list_user_tokens(p, s, i)));
    // DELETE /api/users/{name}/tokens (admins)
    let revoke_user_tokens = warp::path!("api" / "users" / String / "tokens")
        .and(warp::delete())
        .and(s())
        .and(inc())
        .then(|p, s, i| Box::pin(api::revoke_user_tokens(p, s, i)));
    // POST /api/users/{name}/disable (admins)
    let disable_user = warp::path!("api" / "users" / String / "disable")
        .and(warp::post())
        .and(s())
        .and(inc())
        .then(|p, s, i| Box::pin(api::disable_user(p, s, i)));
    // POST /api/users/{name}/enable (admins)
    let enable_user = warp::path!("api" / "users" / String / "enable")
        .and(warp::post())
        .and(s())
        .and(inc())
        .then(|p, s, i| Box::pin(api::enable_user(p, s, i)));
    // DELETE /api/users/{name} (admins)
    let delete_user = warp::path!("api" / "users" / String)
        .and(warp::delete())
        .and(s())
        .and(inc())
        .then(|p, s, i| Box::pin(api::delete_user(p, s, i)));
    // GET /api/audit (admins)
    let audit = warp::path!("api" / "audit")
        .and(warp::get())
        .and(s())
        .and(inc())
        .then(|s, i| Box::pin(api::audit(s, i)));
    // GET /api/me
    let me = warp::path!("api" / "me")
        .and(warp::get())
        .and(s())
        .and(inc())
        .then(|s, i| Box::pin(api::me(s, i)));

    let oauth = token.or(revoke).unify().or(introspect).unify();
    let wellknown = metadata.or(jwks).unify();
    let ops = healthz.or(readyz).unify().or(metrics).unify();
    let api = create_token
        .or(list_tokens)
        .unify()
        .or(show_token)
        .unify()
        .or(revoke_token)
        .unify()
        .or(create_album_token)
        .unify()
        .or(list_album_tokens)
        .unify()
        .or(list_user_tokens)
        .unify()
        .or(revoke_user_tokens)
        .unify()
        .or(disable_user)
        .unify()
        .or(enable_user)
        .unify()
        .or(delete_user)
        .unify()
        .or(audit)
        .unify()
        .or(me)
        .unify();

    oauth
        .or(wellknown)
        .unify()
        .or(ops)
        .unify()
        .or(api)
        .unify()
        .recover(error::recover)
        .unify()
        .with(warp::log::custom(|info| {
            // The path only: tessera never takes secrets in paths or query strings, but the
            // query is left out anyway.
            tracing::info!(
                method = %info.method(),
                path = info.path(),
                status = info.status().as_u16(),
                elapsed_ms = info.elapsed().as_secs_f64() * 1000.0,
                "request"
            );
        }))
}
