//! Servers in this process: [`Server`], one instance serving HTTP on an ephemeral port, and
//! [`TestApp`], a server on a fresh database and key directory with an HTTP client.

use reqwest::Client;
use tessera::app::Application;
use tessera::clock::Clock;
use tessera::config::Settings;
use tessera::domain::AppState;
use tokio::sync::oneshot;
use tokio::task::{JoinError, JoinHandle};

use super::db::{drop_pg_database, fresh_database, Backend};

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

/// One running instance of tessera, served over HTTP on 127.0.0.1 and an ephemeral port.
pub struct Server {
    pub base: String,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    /// Builds the application from `settings` and serves it until stopped.
    pub async fn start(settings: Settings, clock: Clock) -> Server {
        let app = Application::build(settings, clock)
            .await
            .expect("build app");
        let base = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        Server {
            base,
            state,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Stops serving (in-flight requests finish) and waits for the server task.
    pub async fn shut_down(&mut self) -> Result<(), JoinError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await,
            None => Ok(()),
        }
    }

    /// Stops serving, asserting that the server task ended cleanly, and closes its database pool.
    pub async fn stop(mut self) {
        self.shut_down().await.expect("the server task");
        self.state
            .db
            .clone()
            .close()
            .await
            .expect("close the database pool");
    }
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
    server: Server,
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
        let server = Server::start(settings, clock.clone()).await;
        TestApp {
            base: server.base.clone(),
            http: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            state: server.state.clone(),
            clock,
            dir,
            backend,
            database_url,
            pg_db,
            server,
        }
    }

    /// A second instance on the same database, key directory and clock, served over HTTP.
    pub async fn second_instance(&self) -> Server {
        let settings = test_settings(self.dir.path(), &self.database_url, &[]);
        Server::start(settings, self.clock.clone()).await
    }

    /// Stops the server (in-flight requests finish) and drops a PostgreSQL test database.
    pub async fn stop(mut self) {
        let _ = self.server.shut_down().await;
        if let Some((base, name)) = self.pg_db.take() {
            self.state.db.clone().close().await.ok();
            drop_pg_database(&base, &name).await;
        }
    }

    /// Stops this server and starts a new one on the same database and key directory.
    pub async fn restart(mut self) -> TestApp {
        let _ = self.server.shut_down().await;
        self.state.db.clone().close().await.ok();
        let pg_db = self.pg_db.take();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        Self::start(self.backend, dir, self.database_url.clone(), pg_db, &[]).await
    }
}
