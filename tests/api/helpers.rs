#![allow(dead_code)]
//! Spawns the real server in-process on port 0 with a fresh database (SQLite file, or a fresh
//! PostgreSQL database when TESSERA_TEST_POSTGRES_URL is set) and a fresh key directory, and
//! gives tests HTTP helpers.

use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::{Client, Response};
use serde_json::Value;
use tessera::app::Application;
use tessera::clock::Clock;
use tessera::config::Settings;
use tessera::domain::AppState;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub http: Client,
    pub state: AppState,
    pub clock: Clock,
    pub dir: tempfile::TempDir,
    pub backend: Backend,
    pub database_url: String,
    pg_db: Option<(String, String)>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The PostgreSQL admin URL for tests, or None (with a visible note) to skip.
pub fn postgres_base_url() -> Option<String> {
    match std::env::var("TESSERA_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but TESSERA_TEST_POSTGRES_URL is not set: PostgreSQL tests must run in CI");
            }
            eprintln!("note: TESSERA_TEST_POSTGRES_URL not set; skipping the PostgreSQL half of this test");
            None
        }
    }
}

/// Creates a uniquely named database on the server of `base` and returns its URL.
pub async fn create_pg_database(base: &str) -> (String, String) {
    use sea_orm::{ConnectionTrait, Database};
    let name = format!(
        "tessera_t_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand_suffix()
    );
    let admin = Database::connect(base)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at TESSERA_TEST_POSTGRES_URL is unreachable: {e}"));
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create test database");
    admin.close().await.ok();
    let (prefix, _) = base
        .rsplit_once('/')
        .expect("postgres URL with a database path");
    (format!("{prefix}/{name}"), name)
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

pub async fn drop_pg_database(base: &str, name: &str) {
    use sea_orm::{ConnectionTrait, Database};
    if let Ok(admin) = Database::connect(base).await {
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
        admin.close().await.ok();
    }
}

/// A fresh database: a SQLite file in `dir`, or a new PostgreSQL database (with the admin URL
/// and name to drop it afterwards); `None` when PostgreSQL is not configured.
pub async fn fresh_database(
    backend: Backend,
    dir: &std::path::Path,
) -> Option<(String, Option<(String, String)>)> {
    match backend {
        Backend::Sqlite => Some((
            format!("sqlite://{}?mode=rwc", dir.join("t.db").display()),
            None,
        )),
        Backend::Postgres => {
            let base = postgres_base_url()?;
            let (url, name) = create_pg_database(&base).await;
            Some((url, Some((base, name))))
        }
    }
}

/// A client bound to one loopback source address (the whole 127.0.0.0/8 range is local).
pub fn from_address(ip: [u8; 4]) -> Client {
    Client::builder()
        .local_address(std::net::IpAddr::from(ip))
        .build()
        .expect("client")
}

/// POST a form with `http` (e.g. one from [`from_address`]), optionally with HTTP Basic.
pub async fn post_form_from(
    http: &Client,
    url: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> Response {
    let mut req = http.post(url).form(form);
    if let Some((u, p)) = basic {
        req = req.basic_auth(u, Some(p));
    }
    req.send().await.expect("POST form")
}

/// Settings for a test server; `extra` are TESSERA_* overrides.
pub fn test_settings(
    dir: &std::path::Path,
    database_url: &str,
    extra: &[(&str, &str)],
) -> Settings {
    let mut env: Vec<(String, String)> = vec![
        ("TESSERA_LISTEN".into(), "127.0.0.1:0".into()),
        ("TESSERA_ISSUER".into(), "http://tessera.test".into()),
        ("TESSERA_DATABASE_URL".into(), database_url.into()),
        (
            "TESSERA_KEYS_DIR".into(),
            dir.join("keys").display().to_string(),
        ),
    ];
    for (k, v) in extra {
        env.push((k.to_string(), v.to_string()));
    }
    Settings::from_sources(None, env).expect("test settings")
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, &[]).await
    }

    /// Starts a server; `None` when the backend is PostgreSQL and no URL is configured.
    pub async fn spawn_with(backend: Backend, extra: &[(&str, &str)]) -> Option<TestApp> {
        let dir = tempfile::tempdir().expect("tempdir");
        let (database_url, pg_db) = fresh_database(backend, dir.path()).await?;
        let app = Self::start(backend, dir, database_url, pg_db, extra).await;
        Some(app)
    }

    async fn start(
        backend: Backend,
        dir: tempfile::TempDir,
        database_url: String,
        pg_db: Option<(String, String)>,
        extra: &[(&str, &str)],
    ) -> TestApp {
        let settings = test_settings(dir.path(), &database_url, extra);
        let clock = Clock::default();
        let app = Application::build(settings, clock.clone())
            .await
            .expect("build app");
        let port = app.port();
        let state = app.state().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        TestApp {
            base: format!("http://127.0.0.1:{port}"),
            http: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            state,
            clock,
            dir,
            backend,
            database_url,
            pg_db,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Stops the server (in-flight requests finish) and drops a PostgreSQL test database.
    pub async fn stop(mut self) {
        self.stop_server().await;
        if let Some((base, name)) = self.pg_db.take() {
            self.state.db.clone().close().await.ok();
            drop_pg_database(&base, &name).await;
        }
    }

    async fn stop_server(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(s) = self.server.take() {
            let _ = s.await;
        }
    }

    /// Stops this server and starts a new one on the same database and key directory.
    pub async fn restart(mut self) -> TestApp {
        self.stop_server().await;
        self.state.db.clone().close().await.ok();
        let pg_db = self.pg_db.take();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        Self::start(self.backend, dir, self.database_url.clone(), pg_db, &[]).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http.get(self.url(path)).send().await.expect("GET")
    }

    /// POST a form, optionally with HTTP Basic client credentials.
    pub async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Response {
        post_form_from(&self.http, &self.url(path), form, basic).await
    }

    pub async fn token(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Response {
        self.post_form("/oauth/token", form, basic).await
    }

    pub async fn introspect(&self, token: &str, client: (&str, &str)) -> Value {
        let r = self
            .post_form("/oauth/introspect", &[("token", token)], Some(client))
            .await;
        assert_eq!(r.status(), 200, "introspection status");
        r.json().await.expect("introspection JSON")
    }

    /// Exchanges a refresh token without client authentication; returns the JSON (asserting 200).
    pub async fn exchange(&self, refresh_token: &str) -> Value {
        let r = self
            .token(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token),
                ],
                None,
            )
            .await;
        let status = r.status();
        let body: Value = r.json().await.expect("token JSON");
        assert_eq!(status, 200, "exchange failed: {body}");
        body
    }

    /// An /api request as a user with a password.
    pub async fn api_as(
        &self,
        method: reqwest::Method,
        path: &str,
        user: (&str, &str),
        body: Option<Value>,
    ) -> Response {
        let mut req = self
            .http
            .request(method, self.url(path))
            .basic_auth(user.0, Some(user.1));
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("api request")
    }

    /// An /api request with a Bearer access token.
    pub async fn api_bearer(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("api request")
    }

    // ----- set-up through the library, as the CLI does -----

    pub async fn add_user(&self, name: &str, password: &str, admin: bool) {
        tessera::domain::accounts::add_user(&self.state, name, password, admin)
            .await
            .expect("add user");
    }

    pub async fn add_album(&self, id: &str) {
        tessera::domain::accounts::add_album(&self.state, id, None)
            .await
            .expect("add album");
    }

    pub async fn grant(&self, album: &str, user: &str, perms: &str) {
        tessera::domain::accounts::grant_album(&self.state, album, user, perms)
            .await
            .expect("grant");
    }

    /// Registers a client; returns its secret (None for public clients).
    pub async fn add_client(
        &self,
        id: &str,
        public: bool,
        grant_types: Option<&str>,
        scope: Option<&str>,
        introspect: bool,
    ) -> Option<String> {
        tessera::domain::clients::register(
            &self.state,
            tessera::domain::clients::NewClient {
                id: id.into(),
                public,
                grant_types: grant_types.map(str::to_string),
                scope: scope.map(str::to_string),
                introspect,
            },
        )
        .await
        .expect("register client")
        .client_secret
    }

    /// A resource-server client allowed to introspect; returns (id, secret).
    pub async fn add_resource_server(&self) -> (String, String) {
        let secret = self
            .add_client("rs", false, Some("client_credentials"), None, true)
            .await
            .expect("secret");
        ("rs".into(), secret)
    }

    /// Creates a personal token through the API with a password; returns the JSON (with `token`).
    pub async fn create_token(&self, user: (&str, &str), body: Value) -> Value {
        let r = self
            .api_as(reqwest::Method::POST, "/api/tokens", user, Some(body))
            .await;
        let status = r.status();
        let v: Value = r.json().await.expect("JSON");
        assert_eq!(status, 201, "create token failed: {v}");
        v
    }

    /// The standard fixture: user alice (password "alice-pw"), album a1 where she holds
    /// read,write,download,share; returns nothing.
    pub async fn alice_with_album(&self) {
        self.add_user("alice", "alice-pw", false).await;
        self.add_album("a1").await;
        self.grant("a1", "alice", "read,write,download,share").await;
    }
}

pub const ALICE: (&str, &str) = ("alice", "alice-pw");

/// Defines a test that runs once on SQLite and once on PostgreSQL (skipped with a note when
/// TESSERA_TEST_POSTGRES_URL is unset).
#[macro_export]
macro_rules! db_test {
    ($(#[$meta:meta])* $name:ident, |$app:ident| $body:block) => {
        db_test!($(#[$meta])* $name, [], |$app| $body);
    };
    ($(#[$meta:meta])* $name:ident, [$($k:expr => $v:expr),*], |$app:ident| $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn body($app: &$crate::helpers::TestApp) $body

            async fn run(backend: $crate::helpers::Backend) {
                let Some(app) = $crate::helpers::TestApp::spawn_with(backend, &[$(($k, $v)),*]).await else {
                    return;
                };
                body(&app).await;
                app.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::helpers::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run($crate::helpers::Backend::Postgres).await;
            }
        }
    };
}
