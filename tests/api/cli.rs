//! The CLI contract that operators and scripts rely on, run as the real binary against SQLite
//! and PostgreSQL: what each command prints, what it refuses (one line on stderr, non-zero
//! exit, nothing written), and that its effects are what the server then serves.

use std::path::Path;

use serde_json::Value;

use crate::helpers::{on_fresh_database, Backend};
use crate::process::{cli, env_for, free_port, served_kids, ServerProcess};

/// Runs a command that must fail; returns its stderr.
fn cli_fails(env: &[(String, String)], args: &[&str], stdin: &str) -> String {
    let out = crate::process::run_cli(env, args, stdin);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "tessera {args:?} should fail; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty(), "{args:?} printed on failure");
    assert!(!stderr.trim().is_empty(), "{args:?} failed silently");
    stderr
}

/// `GET /api/albums/a1/tokens` as alice: 200 while she is a member, 404 once she is not.
async fn alice_lists_album_a1(http: &reqwest::Client, base: &str) -> reqwest::Response {
    http.get(format!("{base}/api/albums/a1/tokens"))
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap()
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

async fn cli_contract(database_url: String) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("cli.log");
    let env = env_for(dir.path(), &database_url, free_port());
    let run = |args: &[&str], stdin: &str| json(&cli(&env, args, stdin, &log));

    // migrate: applies and exits 0, twice (idempotent).
    cli(&env, &["migrate"], "", &log);
    cli(&env, &["migrate"], "", &log);

    // users
    let root = run(&["user", "add", "root", "--admin"], "root-pw\n");
    assert_eq!(
        (&root["name"], &root["admin"]),
        (&"root".into(), &true.into())
    );
    let alice = run(&["user", "add", "alice"], "alice-pw\n");
    assert_eq!(alice["admin"], false);
    let e = cli_fails(&env, &["user", "add", "alice"], "x\n");
    assert!(e.contains("already exists"), "{e}");
    let e = cli_fails(&env, &["user", "add", "bad name"], "x\n");
    assert!(e.contains("user names"), "{e}");
    let e = cli_fails(&env, &["user", "add", "nopw"], "");
    assert!(e.contains("password"), "{e}");

    // clients
    let spa = run(&["client", "add", "spa", "--public"], "");
    assert_eq!(spa["public"], true);
    assert!(spa.get("client_secret").is_none(), "{spa}");
    assert_eq!(spa["grant_types"], serde_json::json!(["refresh_token"]));
    let svc = run(
        &[
            "client",
            "add",
            "svc",
            "--grant-types",
            "client_credentials",
            "--scope",
            "album:*:read",
        ],
        "",
    );
    let svc_secret = svc["client_secret"].as_str().unwrap().to_string();
    assert!(svc_secret.starts_with("tsc_"), "{svc}");
    assert_eq!(
        svc["grant_types"],
        serde_json::json!(["client_credentials"])
    );
    assert_eq!(svc["scope"], "album:*:read");
    let rs = run(&["client", "add", "rs", "--introspect"], "");
    assert_eq!(rs["introspect"], true);
    let rs_secret = rs["client_secret"].as_str().unwrap().to_string();
    for (args, says) in [
        (
            &["client", "add", "x1", "--grant-types", "password"][..],
            "password",
        ),
        (
            &["client", "add", "x2", "--public", "--introspect"][..],
            "public",
        ),
        (
            &[
                "client",
                "add",
                "x3",
                "--public",
                "--grant-types",
                "client_credentials",
            ][..],
            "client_credentials",
        ),
        (
            &["client", "add", "x4", "--scope", "album:a1:fly"][..],
            "fly",
        ),
        (&["client", "add", "tessera"][..], "built-in"),
        (&["client", "add", "alice"][..], "user named alice"),
        (&["client", "add", "svc"][..], "already exists"),
    ] {
        let e = cli_fails(&env, args, "");
        assert!(e.contains(says), "{args:?}: {e}");
    }
    let e = cli_fails(&env, &["user", "add", "svc"], "pw\n");
    assert!(e.contains("client with id svc"), "{e}");

    // albums and memberships
    let a1 = run(&["album", "add", "a1", "--name", "CT scans"], "");
    assert_eq!((&a1["id"], &a1["name"]), (&"a1".into(), &"CT scans".into()));
    let g = run(
        &["album", "grant", "a1", "alice", "read,download,share"],
        "",
    );
    assert_eq!(
        g["permissions"],
        serde_json::json!(["read", "download", "share"])
    );
    let g = run(&["album", "grant", "a1", "alice", "read"], "");
    assert_eq!(
        g["permissions"],
        serde_json::json!(["read"]),
        "grant replaces"
    );
    for (args, says) in [
        (&["album", "add", "bad/id"][..], "album"),
        (&["album", "grant", "a1", "alice", "read,fly"][..], "fly"),
        (&["album", "grant", "nope", "alice", "read"][..], "nope"),
        (&["album", "grant", "a1", "ghost", "read"][..], "ghost"),
    ] {
        let e = cli_fails(&env, args, "");
        assert!(e.contains(says), "{args:?}: {e}");
    }

    // keys: list shows the one generated key; rotate makes a new signing key.
    let keys = run(&["keys", "list"], "");
    let keys = keys.as_array().unwrap().clone();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(keys[0]["state"], "signing");
    let old_kid = keys[0]["kid"].as_str().unwrap().to_string();

    // Everything above is what the server serves.
    let server = ServerProcess::start(&env, &log).await;
    let http = reqwest::Client::new();
    assert_eq!(
        served_kids(&http, &server.base).await,
        vec![old_kid.clone()]
    );
    let r = http
        .post(format!("{}/oauth/token", server.base))
        .basic_auth("svc", Some(&svc_secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "album:a1:read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = alice_lists_album_a1(&http, &server.base).await;
    assert_eq!(r.status(), 200, "alice is a member of a1");
    let r = http
        .post(format!("{}/oauth/introspect", server.base))
        .basic_auth("rs", Some(&rs_secret))
        .form(&[("token", "garbage")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "rs may introspect");
    drop(server);

    // `none` removes the membership: a1 is then hidden from alice.
    let g = run(&["album", "grant", "a1", "alice", "none"], "");
    assert_eq!(g["permissions"], serde_json::json!([]));
    let rotated = run(&["keys", "rotate"], "");
    assert_eq!(rotated["state"], "signing");
    let new_kid = rotated["kid"].as_str().unwrap().to_string();
    assert_ne!(new_kid, old_kid);
    let keys = run(&["keys", "list"], "");
    let states: Vec<(String, String)> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().unwrap().to_string(),
                k["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        states.contains(&(new_kid.clone(), "signing".into())),
        "{states:?}"
    );
    assert!(
        states.contains(&(old_kid.clone(), "verifying".into())),
        "{states:?}"
    );

    let server = ServerProcess::start(&env, &log).await;
    let r = alice_lists_album_a1(&http, &server.base).await;
    assert_eq!(r.status(), 404, "alice is no longer a member of a1");
    let kids = served_kids(&http, &server.base).await;
    assert!(
        kids.contains(&new_kid) && kids.contains(&old_kid),
        "{kids:?}"
    );
    drop(server);

    // token revoke --user: every live token of a user at once.
    for name in ["one", "two"] {
        run(
            &[
                "token", "create", "--user", "alice", "--name", name, "--scope", "user",
            ],
            "",
        );
    }
    let r = run(&["token", "revoke", "--user", "alice"], "");
    assert_eq!(r["revoked"], 2, "{r}");
    let list = run(&["token", "list", "--user", "alice"], "");
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "revoked"),
        "{list}"
    );
    let e = cli_fails(&env, &["token", "revoke"], "");
    assert!(e.contains("--user") || e.contains("<ID>"), "{e}");
    let e = cli_fails(&env, &["token", "revoke", "--user", "ghost"], "");
    assert!(e.contains("ghost"), "{e}");

    // Bad arguments: clap's usage error, non-zero.
    let e = cli_fails(&env, &["user", "remove", "alice"], "");
    assert!(e.contains("remove"), "{e}");
    let e = cli_fails(&env, &["token", "create", "--user", "alice"], "");
    assert!(e.contains("--name"), "{e}");
    assert_no_secret_in(&log, &svc_secret);
}

fn assert_no_secret_in(log: &Path, secret: &str) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    assert!(!text.contains(secret), "a client secret reached stderr");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_contract_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    on_fresh_database(Backend::Sqlite, dir.path(), cli_contract).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_contract_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    on_fresh_database(Backend::Postgres, dir.path(), cli_contract).await;
}

/// Commands other than `serve` log only warnings unless a filter is set: a successful command
/// prints its JSON and nothing on stderr (sea-orm-migration's INFO lines are not shown).
#[test]
fn commands_other_than_serve_print_no_info_lines() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let run = |args: &[&str], stdin: &str, log: Option<&str>| {
        use std::io::Write;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"));
        cmd.args(args)
            .envs(env_for(dir.path(), &db, free_port()))
            .env_remove("RUST_LOG")
            .env_remove("TESSERA_LOG")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some(filter) = log {
            cmd.env("TESSERA_LOG", filter);
        }
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    for (args, stdin) in [
        (&["migrate"][..], ""),
        (&["user", "add", "alice"][..], "alice-pw\n"),
        (&["keys", "rotate"][..], ""),
        (&["gc"][..], ""),
    ] {
        let stderr = run(args, stdin, None);
        assert!(
            !stderr.contains("INFO"),
            "tessera {args:?} logged: {stderr:?}"
        );
    }
    let e = run(&["user", "add", "bob"], "bob-pw\n", None);
    assert_eq!(e, "", "a successful user add writes nothing on stderr");
    let loud = run(&["migrate"], "", Some("info"));
    assert!(
        loud.contains("INFO"),
        "TESSERA_LOG=info still shows INFO lines: {loud:?}"
    );
}
