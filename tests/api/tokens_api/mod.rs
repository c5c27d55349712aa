//! The token management API under `/api` (issue 4): personal and album tokens created with a
//! password or a Bearer access token, shown once, listed, revoked and administered; the same
//! through the CLI. Every rule runs on SQLite and on PostgreSQL.

use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, Response};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::Value;

use crate::helpers::{expect_status, TestApp};

mod admin;
mod album;
mod callers;
mod end_to_end;
mod lifetimes;
mod listing;
mod personal;
mod revocation;

const BOB: (&str, &str) = ("bob", "bob-pw");
const CAROL: (&str, &str) = ("carol", "carol-pw");
const ROOT: (&str, &str) = ("root", "root-pw");

/// A list response: the items and the X-Total-Count header.
async fn listing(r: Response) -> (Vec<Value>, u64) {
    let total = r
        .headers()
        .get("x-total-count")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no X-Total-Count header: {:?}", r.headers()));
    let v = expect_status(r, 200).await;
    (
        v.as_array()
            .unwrap_or_else(|| panic!("not an array: {v}"))
            .clone(),
        total,
    )
}

/// The `name`s of listed records, in order.
fn names(items: &[Value]) -> Vec<&str> {
    items
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect()
}

fn time(v: &Value, field: &str) -> DateTime<Utc> {
    let s = v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is not a string: {v}"));
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{field} {s:?}: {e}"))
        .with_timezone(&Utc)
}

/// How long a created record lives: `expires_at - created_at`.
fn lifetime(v: &Value) -> Duration {
    time(v, "expires_at") - time(v, "created_at")
}

async fn post_token(app: &TestApp, user: (&str, &str), body: Value) -> Response {
    app.api_as(Method::POST, "/api/tokens", user, Some(body))
        .await
}

async fn post_album_token(app: &TestApp, user: (&str, &str), album: &str, body: Value) -> Response {
    app.api_as(
        Method::POST,
        &format!("/api/albums/{album}/tokens"),
        user,
        Some(body),
    )
    .await
}

async fn show(app: &TestApp, user: (&str, &str), id: &str) -> Value {
    expect_status(app.get_as(&format!("/api/tokens/{id}"), user).await, 200).await
}

async fn delete(app: &TestApp, user: (&str, &str), path: &str) -> Response {
    app.api_as(Method::DELETE, path, user, None).await
}

/// Stored refresh-token rows and audit events: unchanged counts mean a refusal wrote nothing.
async fn written(app: &TestApp) -> (u64, u64) {
    use tessera::store::entity::{audit_event, refresh_token};
    let db = &app.state.db;
    (
        refresh_token::Entity::find()
            .count(db)
            .await
            .expect("count tokens"),
        audit_event::Entity::find()
            .count(db)
            .await
            .expect("count audit"),
    )
}
