//! Runs the real `tessera` binary as a child process (for kill -9, restarts and log capture).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct ServerProcess {
    pub child: Child,
    pub base: String,
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// The environment every command of one test server shares.
pub fn env_for(dir: &Path, database_url: &str, port: u16) -> Vec<(String, String)> {
    vec![
        ("TESSERA_LISTEN".into(), format!("127.0.0.1:{port}")),
        ("TESSERA_DATABASE_URL".into(), database_url.into()),
        (
            "TESSERA_KEYS_DIR".into(),
            dir.join("keys").display().to_string(),
        ),
        ("TESSERA_ISSUER".into(), "http://tessera.test".into()),
    ]
}

/// Runs a CLI command to completion with `stdin` as input, whatever its outcome.
pub fn run_cli(env: &[(String, String)], args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .envs(env.iter().cloned())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tessera");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// Runs a CLI command that must succeed; returns stdout, appending stderr to `log`.
pub fn cli(env: &[(String, String)], args: &[&str], stdin: &str, log: &Path) -> String {
    use std::io::Write;
    let out = run_cli(env, args, stdin);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log");
    f.write_all(&out.stderr).expect("append log");
    assert!(
        out.status.success(),
        "tessera {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

/// Adds user alice (password "alice-pw") with a personal `user` token through the CLI; returns
/// the token.
pub fn alice_with_token(env: &[(String, String)], log: &Path) -> String {
    cli(env, &["user", "add", "alice"], "alice-pw\n", log);
    let created: serde_json::Value = serde_json::from_str(&cli(
        env,
        &[
            "token", "create", "--user", "alice", "--name", "t", "--scope", "user",
        ],
        "",
        log,
    ))
    .expect("token JSON");
    created["token"].as_str().expect("token").to_string()
}

/// The `kid`s of the JWKS served at `base`.
pub async fn served_kids(http: &reqwest::Client, base: &str) -> Vec<String> {
    let jwks: serde_json::Value = http
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .expect("GET jwks")
        .json()
        .await
        .expect("JWKS JSON");
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_string())
        .collect()
}

impl ServerProcess {
    /// Starts `tessera serve` and waits until /readyz answers 200.
    pub async fn start(env: &[(String, String)], log: &Path) -> ServerProcess {
        let port = env
            .iter()
            .find(|(k, _)| k == "TESSERA_LISTEN")
            .and_then(|(_, v)| v.rsplit(':').next())
            .expect("listen")
            .to_string();
        let logf = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .arg("serve")
            .envs(env.iter().cloned())
            .stdout(Stdio::null())
            .stderr(Stdio::from(logf))
            .spawn()
            .expect("spawn tessera serve");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
                if r.status() == 200 {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "tessera did not become ready; log: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        ServerProcess { child, base }
    }

    /// SIGKILL: no chance to flush or finish anything.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait: a graceful stop.
    pub fn terminate(&mut self) {
        self.send_sigterm();
        let _ = self.child.wait();
    }

    /// `host:port`, for raw TCP connections.
    pub fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_string()
    }

    /// SIGTERM without waiting.
    pub fn send_sigterm(&self) {
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
    }

    /// The exit status once the process has exited, or None if it is still running after
    /// `within` (a test of shutdown fails instead of hanging).
    pub async fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}
