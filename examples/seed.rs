//! Seeds a tessera database with many refresh tokens and their audit rows, for the data-scale
//! benchmark (`scripts/bench.sh --scale`). Rows are written through tessera's own entities, so
//! they have exactly the shape and formats the server writes, in multi-row INSERTs of 1,000 rows
//! and one transaction per 50,000 rows.
//!
//! Usage: `seed DATABASE_URL [ROWS]` (default 1,000,000). Adds 1,000 users `seed-u0..` and spreads
//! the tokens over them: three quarters are rotating families of four rows (three rotated, one
//! head), the rest single personal tokens; one family in ten is revoked. Every family gets a
//! `token.create` audit row and every revoked one a `token.revoke` row.

use std::time::Instant;

use chrono::{Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set, TransactionTrait};
use tessera::store::entity::{audit_event, refresh_token, user};
use tessera::tokens::secret::{hash_hex, public_id};

const USERS: usize = 1_000;
const BATCH: usize = 1_000;
const PER_TXN: usize = 50_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).ok_or("usage: seed DATABASE_URL [ROWS]")?;
    let rows: usize = args
        .get(2)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let started = Instant::now();
    let db = tessera::store::connect(url, 4).await?;
    tessera::store::migrate(&db).await?;
    let now = Utc::now();

    let txn = db.conn().begin().await?;
    let prefix = format!("seed-{}-u", now.timestamp_millis());
    {
        let users = (0..USERS).map(|n| user::ActiveModel {
            name: Set(format!("{prefix}{n}")),
            // Not a valid argon2 hash: seeded users cannot log in, which is fine for a benchmark.
            password_hash: Set("!seed".into()),
            is_admin: Set(false),
            created_at: Set(now),
            ..Default::default()
        });
        user::Entity::insert_many(users).exec(&txn).await?;
    }
    txn.commit().await?;
    let user_ids: Vec<i64> = user::Entity::find()
        .filter(user::Column::Name.starts_with(&prefix))
        .all(&db)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect();

    let mut tokens: Vec<refresh_token::ActiveModel> = Vec::with_capacity(BATCH + 4);
    let mut audits: Vec<audit_event::ActiveModel> = Vec::with_capacity(BATCH + 4);
    let mut txn = db.conn().begin().await?;
    let (mut written, mut audit_rows, mut in_txn, mut family_no) = (0usize, 0usize, 0usize, 0u64);
    while written < rows {
        family_no += 1;
        let family = public_id();
        let user_id = user_ids[family_no as usize % user_ids.len()];
        let created = now - Duration::seconds((family_no % (30 * 86_400)) as i64);
        let expires = created + Duration::days(60);
        let rotating = family_no % 4 != 0;
        let chain = if rotating { 4 } else { 1 }.min(rows - written);
        let revoked = (family_no % 10 == 0).then_some(now - Duration::seconds(5));
        let mut prev: Option<String> = None;
        for link in 0..chain {
            let id = if link == 0 {
                family.clone()
            } else {
                public_id()
            };
            let head = link + 1 == chain;
            let used = created + Duration::hours(link as i64 + 1);
            tokens.push(refresh_token::ActiveModel {
                id: Set(id.clone()),
                secret_hash: Set(hash_hex(&format!("seed-{family}-{link}"))),
                kind: Set("personal".into()),
                name: Set(format!("seeded token {family_no}")),
                user_id: Set(user_id),
                client_id: Set(None),
                album_id: Set(None),
                scope: Set("user".into()),
                rotating: Set(rotating),
                family_id: Set(family.clone()),
                parent_id: Set(None),
                rotated_from_id: Set(prev.replace(id)),
                created_at: Set(created),
                expires_at: Set(Some(expires)),
                last_used_at: Set(Some(used)),
                rotated_at: Set((!head).then_some(used)),
                revoked_at: Set(revoked),
            });
        }
        written += chain;
        audits.push(audit(created, "token.create", &family));
        if let Some(at) = revoked {
            audits.push(audit(at, "token.revoke", &family));
        }
        if tokens.len() >= BATCH || written >= rows {
            in_txn += tokens.len();
            audit_rows += audits.len();
            refresh_token::Entity::insert_many(tokens.drain(..))
                .exec(&txn)
                .await?;
            audit_event::Entity::insert_many(audits.drain(..))
                .exec(&txn)
                .await?;
            if in_txn >= PER_TXN {
                txn.commit().await?;
                txn = db.conn().begin().await?;
                in_txn = 0;
                eprint!("\rseeded {written} refresh tokens");
            }
        }
    }
    txn.commit().await?;
    eprintln!(
        "\rseeded {written} refresh tokens and {audit_rows} audit rows for {USERS} users in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn audit(at: chrono::DateTime<Utc>, action: &str, family: &str) -> audit_event::ActiveModel {
    audit_event::ActiveModel {
        at: Set(at),
        actor: Set("seed".into()),
        action: Set(action.into()),
        target: Set(format!("token:{family}")),
        detail: Set(r#"{"kind":"personal","scope":"user"}"#.into()),
        ..Default::default()
    }
}
