//! Reading the audit log (admins only; the caller checks). Rows are written by the change they
//! record, in its transaction (`store::Write::audit`).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::management::Page;
use super::{AppState, Error};
use crate::store::audit::{self, AuditQuery};

/// One audit row as the API shows it.
#[derive(Debug, Serialize)]
pub struct Entry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
}

/// Newest first, filtered by action and target, and the total count without paging.
pub async fn list(
    state: &AppState,
    action: Option<&str>,
    target: Option<&str>,
    page: Page,
) -> Result<(Vec<Entry>, u64), Error> {
    let (rows, total) = audit::list(
        &state.db,
        &AuditQuery {
            action,
            target,
            limit: page.limit,
            offset: page.offset,
        },
    )
    .await?;
    let entries = rows
        .into_iter()
        .map(|e| Entry {
            id: e.id,
            at: e.at,
            actor: e.actor,
            action: e.action,
            target: e.target,
            detail: serde_json::from_str(&e.detail).unwrap_or_default(),
        })
        .collect();
    Ok((entries, total))
}
