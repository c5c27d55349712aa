//! Building and running the server: database, migrations, keys, the bound listener, background
//! tasks, graceful shutdown (the serving loop itself is `http::server`). Tests build it on port 0
//! and read `port()`.

use std::future::Future;
use std::net::SocketAddr;

use hyper_util::service::TowerToHyperService;

use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::AppState;
use crate::http::server::{self, Timeouts};
use crate::store::{self, StoreError};
use crate::tokens::keys::{KeyDir, KeyError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("signing keys: {0}")]
    Keys(#[from] KeyError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

pub struct Application {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    state: AppState,
}

/// Connects, migrates and loads keys: what every command that touches state needs.
pub async fn prepare_state(settings: Settings, clock: Clock) -> Result<AppState, StartError> {
    let db = store::connect(&settings.database_url, settings.database_max_connections).await?;
    store::migrate(&db).await?;
    let keys = KeyDir::new(&settings.keys_dir).load_or_init(settings.signing_alg, clock.now())?;
    Ok(AppState::new(settings, db, clock, keys))
}

impl Application {
    pub async fn build(settings: Settings, clock: Clock) -> Result<Self, StartError> {
        let listen = settings.listen;
        let state = prepare_state(settings, clock).await?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| StartError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: listen,
            source,
        })?;
        Ok(Application {
            listener,
            addr,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish within
    /// `shutdown_drain_timeout`.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let state = self.state.clone();
        // The dummy hash that unknown users are checked against is made now, not on the first
        // unknown login (which would then cost two argon2 runs and stand out).
        tokio::task::spawn_blocking(crate::domain::passwords::prepare_dummy_hash);
        let gc = tokio::spawn(crate::domain::gc::run_forever(state.clone()));
        let reload = tokio::spawn(reload_keys_forever(state.clone()));
        tracing::info!(address = %self.addr, issuer = %state.settings.issuer, "tessera listening");
        let timeouts = Timeouts::from_settings(&state.settings);
        let service = TowerToHyperService::new(warp::service(crate::http::routes(state)));
        server::serve(self.listener, service, timeouts, shutdown).await;
        gc.abort();
        reload.abort();
        tracing::info!("tessera stopped");
    }
}

/// Picks up key rotations made by another instance (or `tessera keys rotate`) sharing the key
/// directory.
async fn reload_keys_forever(state: AppState) {
    let period = state
        .settings
        .key_reload_interval
        .to_std()
        .max(std::time::Duration::from_secs(1));
    loop {
        tokio::time::sleep(period).await;
        if let Err(e) = state.reload_keys() {
            tracing::warn!(error = %e, "key reload failed; keeping the keys already loaded");
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
