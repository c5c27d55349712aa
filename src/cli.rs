//! The command line: each subcommand calls into the library. Records and secrets are printed as
//! JSON on stdout; errors as one line on stderr with a non-zero exit status.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::{self, Application};
use crate::clock::Clock;
use crate::config::{HumanDuration, Settings};
use crate::domain::{self, accounts, clients, management};
use crate::tokens::keys::KeyDir;

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "OAuth2 authorization server for personal and album tokens"
)]
pub struct Cli {
    /// Configuration file (TOML); default: tessera.toml in the working directory, if present.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Apply migrations, then serve HTTP until SIGINT/SIGTERM.
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Delete expired and long-revoked rows now, and exit.
    Gc,
    /// Users.
    #[command(subcommand)]
    User(UserCmd),
    /// OAuth clients.
    #[command(subcommand)]
    Client(ClientCmd),
    /// Albums and memberships.
    #[command(subcommand)]
    Album(AlbumCmd),
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Refresh tokens (personal, album, client-bound).
    #[command(subcommand)]
    Token(TokenCmd),
}

#[derive(Subcommand)]
pub enum UserCmd {
    /// Create a user; the password is read from standard input.
    Add {
        name: String,
        #[arg(long)]
        admin: bool,
    },
    /// Disable a user: password refused, tokens stop working at once; nothing is deleted.
    Disable { name: String },
    /// Re-enable a disabled user: tokens that were live before work again.
    Enable { name: String },
    /// Delete a user: revoke all their tokens, drop memberships; the name stays reserved.
    Delete { name: String },
}

#[derive(Subcommand)]
pub enum ClientCmd {
    /// Register a client; prints its id and, for confidential clients, its secret (shown once).
    Add {
        id: String,
        /// A public client (no secret; `none` authentication).
        #[arg(long)]
        public: bool,
        /// Comma list of refresh_token, client_credentials.
        #[arg(long)]
        grant_types: Option<String>,
        /// Space-separated scopes the client may request; `album:*:<perm>` matches any album.
        #[arg(long)]
        scope: Option<String>,
        /// May call the introspection endpoint (resource servers).
        #[arg(long)]
        introspect: bool,
    },
}

#[derive(Subcommand)]
pub enum AlbumCmd {
    /// Create an album.
    Add {
        id: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// Set a user's permissions on an album: comma list of read,write,download,share,admin, or none.
    Grant {
        album: String,
        user: String,
        perms: String,
    },
}

#[derive(Subcommand)]
pub enum KeysCmd {
    /// Show every key with its state.
    List,
    /// Make a new key the signing key; old keys keep verifying until their tokens expire.
    Rotate,
}

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Create a token for a user; prints the record and the secret (shown once) as JSON.
    Create {
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        scope: String,
        /// Like 30d; default: personal_token_default_ttl.
        #[arg(long)]
        expires_in: Option<HumanDuration>,
        #[arg(long)]
        rotating: bool,
        /// Bind the token to this OAuth client (it then always rotates).
        #[arg(long)]
        client: Option<String>,
    },
    /// List tokens, of one user or of everyone.
    List {
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a token (and its family and children), or with --user every token of a user.
    Revoke {
        #[arg(required_unless_present = "user", conflicts_with = "user")]
        id: Option<String>,
        /// Revoke every live token of this user (for someone leaving).
        #[arg(long)]
        user: Option<String>,
    },
}

/// Runs one command to completion.
pub fn run(command: Command, settings: Settings) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tessera: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(dispatch(command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("tessera: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn print_json(v: &impl serde::Serialize) -> Result<(), String> {
    let s = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
    println!("{s}");
    Ok(())
}

fn show(e: domain::Error) -> String {
    e.to_string()
}

async fn dispatch(command: Command, settings: Settings) -> Result<(), String> {
    let clock = Clock::default();
    match command {
        Command::Serve => {
            let app = Application::build(settings, clock)
                .await
                .map_err(|e| e.to_string())?;
            app.run_until(app::shutdown_signal()).await;
            Ok(())
        }
        Command::Keys(KeysCmd::List) => {
            let state = app::prepare_state(settings, clock)
                .await
                .map_err(|e| e.to_string())?;
            let now = state.clock.now();
            let keys = state.keys();
            let list: Vec<serde_json::Value> = keys
                .all()
                .iter()
                .map(|k| {
                    serde_json::json!({
                        "kid": k.kid, "alg": k.alg.as_str(), "created_at": k.created_at,
                        "retired_at": k.retired_at, "state": k.state(now, state.key_grace()),
                    })
                })
                .collect();
            print_json(&list)
        }
        Command::Keys(KeysCmd::Rotate) => {
            let dir = KeyDir::new(&settings.keys_dir);
            let kid = dir
                .rotate(settings.signing_alg, clock.now())
                .map_err(|e| e.to_string())?;
            print_json(
                &serde_json::json!({ "kid": kid, "alg": settings.signing_alg.as_str(), "state": "signing" }),
            )
        }
        other => {
            let state = app::prepare_state(settings, clock)
                .await
                .map_err(|e| e.to_string())?;
            run_with_state(other, &state).await
        }
    }
}

async fn run_with_state(command: Command, state: &crate::domain::AppState) -> Result<(), String> {
    match command {
        Command::Migrate => {
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Gc => print_json(&domain::gc::run_once(state).await.map_err(show)?),
        Command::User(UserCmd::Add { name, admin }) => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .map_err(|e| format!("reading the password: {e}"))?;
            let password = password.trim_end_matches(['\r', '\n']);
            let u = accounts::add_user(state, &name, password, admin)
                .await
                .map_err(show)?;
            print_json(
                &serde_json::json!({ "name": u.name, "admin": u.is_admin, "created_at": u.created_at }),
            )
        }
        Command::User(UserCmd::Disable { name }) => user_state(state, &name, true).await,
        Command::User(UserCmd::Enable { name }) => user_state(state, &name, false).await,
        Command::User(UserCmd::Delete { name }) => {
            let n = accounts::delete_user(state, "operator", &name)
                .await
                .map_err(show)?;
            print_json(&serde_json::json!({ "name": name, "deleted": true, "revoked": n }))
        }
        Command::Client(ClientCmd::Add {
            id,
            public,
            grant_types,
            scope,
            introspect,
        }) => {
            let r = clients::register(
                state,
                clients::NewClient {
                    id,
                    public,
                    grant_types,
                    scope,
                    introspect,
                },
            )
            .await
            .map_err(show)?;
            print_json(&r)
        }
        Command::Album(AlbumCmd::Add { id, name }) => {
            let a = accounts::add_album(state, &id, name.as_deref())
                .await
                .map_err(show)?;
            print_json(
                &serde_json::json!({ "id": a.id, "name": a.name, "created_at": a.created_at }),
            )
        }
        Command::Album(AlbumCmd::Grant { album, user, perms }) => {
            let p = accounts::grant_album(state, &album, &user, &perms)
                .await
                .map_err(show)?;
            print_json(
                &serde_json::json!({ "album": album, "user": user, "permissions": p.iter().map(|p| p.as_str()).collect::<Vec<_>>() }),
            )
        }
        Command::Token(TokenCmd::Create {
            user,
            name,
            scope,
            expires_in,
            rotating,
            client,
        }) => {
            let caller = management::operator_as(state, &user).await.map_err(show)?;
            let expiry = match expires_in {
                Some(d) => management::Expiry::In(d.as_secs() as i64),
                None => management::Expiry::Default,
            };
            let c = management::create_personal(
                state,
                &caller,
                management::NewPersonal {
                    name,
                    scope,
                    expiry,
                    rotating,
                    client_id: client,
                },
            )
            .await
            .map_err(show)?;
            let mut v = serde_json::to_value(&c.view).map_err(|e| e.to_string())?;
            v["token"] = c.token.expose().into();
            print_json(&v)
        }
        Command::Token(TokenCmd::List { user }) => {
            let views = management::operator_list(state, user.as_deref())
                .await
                .map_err(show)?;
            print_json(&views)
        }
        Command::Token(TokenCmd::Revoke { id: Some(id), .. }) => {
            management::operator_revoke(state, &id)
                .await
                .map_err(show)?;
            print_json(&serde_json::json!({ "id": id, "status": "revoked" }))
        }
        Command::Token(TokenCmd::Revoke {
            user: Some(user), ..
        }) => {
            let n = management::revoke_all_of_user(state, "operator", &user)
                .await
                .map_err(show)?;
            print_json(&serde_json::json!({ "user": user, "revoked": n }))
        }
        Command::Token(TokenCmd::Revoke { .. }) => Err("name a token id or --user NAME".into()),
        Command::Serve | Command::Keys(_) => Ok(()),
    }
}

async fn user_state(
    state: &crate::domain::AppState,
    name: &str,
    disabled: bool,
) -> Result<(), String> {
    let u = accounts::set_disabled(state, "operator", name, disabled)
        .await
        .map_err(show)?;
    print_json(&serde_json::json!({ "name": u.name, "disabled_at": u.disabled_at }))
}
