//! The audit log: who did what to which token, and when. Details never hold secrets.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::entity::audit_event::{self, Column as C, Entity as Events};
use super::StoreError;

pub use audit_event::Model as AuditEvent;

/// Writes one row; callers go through `Db::audit` or `Write::audit`.
pub(super) async fn record(
    db: &impl ConnectionTrait,
    e: super::Event<'_>,
) -> Result<(), StoreError> {
    let row = audit_event::ActiveModel {
        at: Set(e.at),
        actor: Set(truncate(e.actor)),
        action: Set(e.action.to_string()),
        target: Set(truncate(e.target)),
        detail: Set(e.detail.to_string()),
        ..Default::default()
    };
    row.insert(db).await?;
    Ok(())
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

pub struct AuditQuery<'a> {
    pub action: Option<&'a str>,
    pub target: Option<&'a str>,
    pub limit: u64,
    pub offset: u64,
}

/// Newest first, with the total count.
pub async fn list(
    db: &impl ConnectionTrait,
    q: &AuditQuery<'_>,
) -> Result<(Vec<AuditEvent>, u64), StoreError> {
    let mut cond = Condition::all();
    if let Some(a) = q.action {
        cond = cond.add(C::Action.eq(a));
    }
    if let Some(t) = q.target {
        cond = cond.add(C::Target.eq(t));
    }
    let total = Events::find().filter(cond.clone()).count(db).await?;
    let rows = Events::find()
        .filter(cond)
        .order_by_desc(C::Id)
        .limit(q.limit)
        .offset(q.offset)
        .all(db)
        .await?;
    Ok((rows, total))
}
