//! What is stored: snapshots of every table, to show that a request changed nothing.

use sea_orm::EntityTrait;

use super::server::TestApp;

/// Every stored row of every table, as sorted debug lines: equal snapshots mean no state change.
pub async fn snapshot(app: &TestApp) -> Vec<String> {
    use tessera::store::entity::*;
    let db = &app.state.db;
    fn lines<M: std::fmt::Debug>(rows: Vec<M>) -> impl Iterator<Item = String> {
        rows.into_iter().map(|m| format!("{m:?}"))
    }
    let mut out: Vec<String> = Vec::new();
    out.extend(lines(user::Entity::find().all(db).await.expect("users")));
    out.extend(lines(
        client::Entity::find().all(db).await.expect("clients"),
    ));
    out.extend(lines(album::Entity::find().all(db).await.expect("albums")));
    out.extend(lines(
        album_member::Entity::find().all(db).await.expect("members"),
    ));
    out.extend(lines(
        refresh_token::Entity::find()
            .all(db)
            .await
            .expect("refresh tokens"),
    ));
    out.extend(lines(
        revoked_access_token::Entity::find()
            .all(db)
            .await
            .expect("revoked"),
    ));
    out.extend(lines(
        audit_event::Entity::find().all(db).await.expect("audit"),
    ));
    out.sort();
    out
}

/// Asserts that the stored state is still `before`.
pub async fn assert_unchanged(app: &TestApp, before: &[String], what: &str) {
    let after = snapshot(app).await;
    assert_eq!(before, after.as_slice(), "{what} changed stored state");
}
