//! Expected messages were taken from the implementation before settings were declared once
//! (issue 12): they are the contract operators and tests/api rely on.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn refused(pairs: &[(&str, &str)]) -> String {
    Settings::from_sources(None, env(pairs))
        .expect_err("refused")
        .to_string()
}

/// A settings file in a fresh directory; returns the directory (keep it) and the path.
fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn refused_file(text: &str) -> String {
    let (_dir, path) = file(text);
    Settings::from_sources(Some(&path), env(&[]))
        .expect_err("refused")
        .to_string()
        .replace(&path.display().to_string(), "t.toml")
}

#[test]
fn debug_and_errors_hide_the_database_password() {
    let s = Settings::from_sources(
        None,
        env(&[(
            "TESSERA_DATABASE_URL",
            "postgres://tessera:hunter2@db.internal:5432/t",
        )]),
    )
    .unwrap();
    let shown = format!("{s:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(
        shown.contains("postgres://tessera:***@db.internal:5432/t"),
        "{shown}"
    );
    assert_eq!(
        refused(&[("TESSERA_DATABASE_URL", "mysql://tessera:hunter2@db/t")]),
        "invalid setting database_url (TESSERA_DATABASE_URL): \"mysql://tessera:***@db/t\" is not a sqlite: or postgres:// URL"
    );
}

#[test]
fn defaults_follow_the_listen_address() {
    let s = Settings::from_sources(None, env(&[("TESSERA_LISTEN", "127.0.0.1:9000")])).unwrap();
    assert_eq!(s.issuer, "http://127.0.0.1:9000");
    assert_eq!(s.audience, s.issuer);
    assert_eq!(s.access_token_ttl.as_secs(), 900);
    assert_eq!(s.signing_alg, Algorithm::Es256);
}

#[test]
fn every_default() {
    let s = Settings::from_sources(None, env(&[])).unwrap();
    assert_eq!(s.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(s.database_url.as_str(), "sqlite://tessera.db?mode=rwc");
    assert_eq!(s.database_max_connections, 8);
    assert_eq!(s.issuer, "http://127.0.0.1:8080");
    assert_eq!(s.keys_dir, PathBuf::from("keys"));
    assert_eq!(s.audience, s.issuer);
    let secs = |d: HumanDuration| d.as_secs();
    assert_eq!(secs(s.personal_token_default_ttl), 60 * 86_400);
    assert_eq!(secs(s.personal_token_max_ttl), 366 * 86_400);
    assert_eq!(secs(s.album_token_default_ttl), 90 * 86_400);
    assert!(!s.allow_non_expiring_tokens);
    assert_eq!(secs(s.rotation_grace), 10);
    assert_eq!(secs(s.last_used_resolution), 60);
    assert_eq!(secs(s.revoked_retention), 30 * 86_400);
    assert_eq!(secs(s.gc_interval), 3600);
    assert_eq!(s.gc_batch_size, 500);
    assert_eq!(secs(s.key_reload_interval), 60);
    assert_eq!(s.max_body_bytes, 16 * 1024);
    assert_eq!(s.auth_failure_limit, 10);
    assert_eq!(secs(s.auth_failure_window), 300);
    assert_eq!(secs(s.client_cache_ttl), 60);
    assert_eq!(s.max_live_tokens_per_user, 1000);
    assert_eq!(s.max_children_per_token, 100);
}

#[test]
fn the_issuer_loses_a_trailing_slash_and_the_audience_follows_it() {
    let s =
        Settings::from_sources(None, env(&[("TESSERA_ISSUER", "https://a.example/x/")])).unwrap();
    assert_eq!(s.issuer, "https://a.example/x");
    assert_eq!(s.audience, "https://a.example/x");
    let s = Settings::from_sources(
        None,
        env(&[
            ("TESSERA_ISSUER", "https://a.example"),
            ("TESSERA_AUDIENCE", "api"),
        ]),
    )
    .unwrap();
    assert_eq!(
        (s.issuer.as_str(), s.audience.as_str()),
        ("https://a.example", "api")
    );
}

#[test]
fn env_overrides_file() {
    let (_dir, path) = file("access_token_ttl = \"5m\"\nsigning_alg = \"EdDSA\"\n");
    let s =
        Settings::from_sources(Some(&path), env(&[("TESSERA_ACCESS_TOKEN_TTL", "90s")])).unwrap();
    assert_eq!(s.access_token_ttl.as_secs(), 90);
    assert_eq!(s.signing_alg, Algorithm::EdDsa);
    let (_dir, path) = file("access_token_ttl = \"x\"\n");
    let e =
        Settings::from_sources(Some(&path), env(&[("TESSERA_ACCESS_TOKEN_TTL", "y")])).unwrap_err();
    assert!(
        e.to_string().contains("(TESSERA_ACCESS_TOKEN_TTL): \"y\""),
        "{e}"
    );
}

#[test]
fn the_later_of_two_variables_wins_and_is_named_as_written() {
    let s = Settings::from_sources(
        None,
        env(&[("TESSERA_LISTEN", "x"), ("TESSERA_LISTEN", "127.0.0.1:1")]),
    )
    .unwrap();
    assert_eq!(s.listen.port(), 1);
    assert_eq!(
        refused(&[("TESSERA_LISTEN", "127.0.0.1:1"), ("TESSERA_listen", "y")]),
        "invalid setting listen (TESSERA_listen): \"y\" is not an address like 127.0.0.1:8080"
    );
}

#[test]
fn variables_naming_no_setting_are_ignored() {
    let s = Settings::from_sources(
        None,
        env(&[
            ("TESSERA_LOG", "x"),
            ("TESSERA_TEST_X", "y"),
            ("OTHER", "z"),
        ]),
    );
    assert!(s.is_ok());
}

#[test]
fn bad_values_name_setting_source_value_and_reason() {
    for (pairs, message) in [
        (
            ("TESSERA_ACCESS_TOKEN_TTL", "soon"),
            "invalid setting access_token_ttl (TESSERA_ACCESS_TOKEN_TTL): \"soon\" is not a duration like 90s, 15m, 24h or 60d",
        ),
        (
            ("TESSERA_ACCESS_TOKEN_TTL", "0s"),
            "invalid setting access_token_ttl (TESSERA_ACCESS_TOKEN_TTL): \"0s\" is zero; access tokens need a lifetime",
        ),
        (
            ("TESSERA_ISSUER", "x"),
            "invalid setting issuer (TESSERA_ISSUER): \"x\" is not a URL (relative URL without a base)",
        ),
        (
            ("TESSERA_ISSUER", "https://a.example/x?y"),
            "invalid setting issuer (TESSERA_ISSUER): \"https://a.example/x?y\" is not an http(s) URL without query or fragment (RFC 8414 §2)",
        ),
        (
            ("TESSERA_AUDIENCE", " "),
            "invalid setting audience (TESSERA_AUDIENCE): \" \" is empty",
        ),
        (
            ("TESSERA_SIGNING_ALG", "rs512"),
            "invalid setting signing_alg (TESSERA_SIGNING_ALG): \"rs512\" is not one of ES256, EdDSA, RS256",
        ),
        (
            ("TESSERA_ALLOW_NON_EXPIRING_TOKENS", "TRUE"),
            "invalid setting allow_non_expiring_tokens (TESSERA_ALLOW_NON_EXPIRING_TOKENS): \"TRUE\" is not true or false",
        ),
        (
            ("TESSERA_GC_BATCH_SIZE", "1.5"),
            "invalid setting gc_batch_size (TESSERA_GC_BATCH_SIZE): \"1.5\" is not a whole number",
        ),
        (
            ("TESSERA_GC_BATCH_SIZE", "0"),
            "invalid setting gc_batch_size (TESSERA_GC_BATCH_SIZE): \"0\" is zero; it must be at least 1",
        ),
        (
            ("TESSERA_MAX_BODY_BYTES", "255"),
            "invalid setting max_body_bytes (TESSERA_MAX_BODY_BYTES): \"255\" is outside 256..=1048576",
        ),
        (
            ("TESSERA_IDLE_TIMEOUT", "0"),
            "invalid setting idle_timeout (TESSERA_IDLE_TIMEOUT): \"0\" is not a duration like 90s, 15m, 24h or 60d",
        ),
        (
            ("TESSERA_IDLE_TIMEOUT", "0s"),
            "invalid setting idle_timeout (TESSERA_IDLE_TIMEOUT): \"0s\" is zero; it must be at least 1s",
        ),
        (
            ("TESSERA_PASSWORD_CHECK_CONCURRENCY", "1025"),
            "invalid setting password_check_concurrency (TESSERA_PASSWORD_CHECK_CONCURRENCY): \"1025\" is outside 1..=1024",
        ),
        (
            ("TESSERA_PASSWORD_CHECK_QUEUE", "100001"),
            "invalid setting password_check_queue (TESSERA_PASSWORD_CHECK_QUEUE): \"100001\" is above 100000",
        ),
        (
            ("TESSERA_PERSONAL_TOKEN_DEFAULT_TTL", "400d"),
            "invalid setting personal_token_default_ttl (TESSERA_PERSONAL_TOKEN_DEFAULT_TTL): \"400d\" is longer than personal_token_max_ttl",
        ),
        (
            ("TESSERA_PERSONAL_TOKEN_MAX_TTL", "10d"),
            "invalid setting personal_token_default_ttl (default): \"\" is longer than personal_token_max_ttl",
        ),
    ] {
        assert_eq!(refused(&[pairs]), message);
    }
}

#[test]
fn file_values_are_shown_as_written_in_toml() {
    for (text, message) in [
        (
            "rotation_grace = -3\n",
            "invalid setting rotation_grace (t.toml): \"-3\" is not a duration like 90s, 15m, 24h or 60d",
        ),
        (
            "listen = [1, 2]\n",
            "invalid setting listen (t.toml): \"[1, 2]\" is not an address like 127.0.0.1:8080",
        ),
        (
            "listen = 1.0\n",
            "invalid setting listen (t.toml): \"1.0\" is not an address like 127.0.0.1:8080",
        ),
        (
            "[listen]\na = 1\n",
            "invalid setting listen (t.toml): \"{ a = 1 }\" is not an address like 127.0.0.1:8080",
        ),
        (
            "listen = 1979-05-27\n",
            "invalid setting listen (t.toml): \"{ \\\"$__toml_private_datetime\\\" = \\\"1979-05-27\\\" }\" is not an address like 127.0.0.1:8080",
        ),
        (
            "database_url = \"mysql://u:hunter2@h/d\"\n",
            "invalid setting database_url (t.toml): \"mysql://u:***@h/d\" is not a sqlite: or postgres:// URL",
        ),
        (
            "personal_token_max_ttl = \"70d\"\nalbum_token_default_ttl = 8000000\n",
            "invalid setting album_token_default_ttl (t.toml): \"8000000\" is longer than personal_token_max_ttl",
        ),
        (
            "acess_token_ttl = \"5m\"\n",
            "unknown setting \"acess_token_ttl\" in t.toml",
        ),
        // An unknown key is reported before any bad value.
        (
            "zzz = 1\naccess_token_ttl = \"x\"\n",
            "unknown setting \"zzz\" in t.toml",
        ),
        (
            "LISTEN = \"127.0.0.1:1\"\n",
            "unknown setting \"LISTEN\" in t.toml",
        ),
        (
            "listen = \n",
            // toml's own message; it spans two lines (as before issue 12).
            "cannot read configuration file t.toml: invalid string\nexpected `\"`, `'`",
        ),
        (
            "a = 1\na = 2\n",
            "cannot read configuration file t.toml: duplicate key `a` in document root",
        ),
    ] {
        assert_eq!(refused_file(text), message, "{text:?}");
    }
}

#[test]
fn file_numbers_and_booleans_may_be_strings_and_bare_integers_are_seconds() {
    let (_dir, path) = file(
        "gc_batch_size = \"7\"\nallow_non_expiring_tokens = true\nrotation_grace = 12\nmax_body_bytes = 300\n",
    );
    let s = Settings::from_sources(Some(&path), env(&[])).unwrap();
    assert_eq!(s.gc_batch_size, 7);
    assert!(s.allow_non_expiring_tokens);
    assert_eq!(s.rotation_grace.as_secs(), 12);
    assert_eq!(s.max_body_bytes, 300);
}

#[test]
fn a_missing_file_is_named() {
    let e = Settings::from_sources(Some(Path::new("/nonexistent/nope.toml")), env(&[]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "cannot read configuration file /nonexistent/nope.toml: No such file or directory (os error 2)"
    );
}

#[test]
fn connection_timeouts_default_and_refuse_zero() {
    let s = Settings::from_sources(None, env(&[])).unwrap();
    assert_eq!(s.header_read_timeout.as_secs(), 10);
    assert_eq!(s.body_read_timeout.as_secs(), 30);
    assert_eq!(s.idle_timeout.as_secs(), 60);
    assert_eq!(s.shutdown_drain_timeout.as_secs(), 20);
    for key in [
        "TESSERA_HEADER_READ_TIMEOUT",
        "TESSERA_BODY_READ_TIMEOUT",
        "TESSERA_IDLE_TIMEOUT",
        "TESSERA_SHUTDOWN_DRAIN_TIMEOUT",
    ] {
        let err = refused(&[(key, "0s")]);
        assert!(err.contains(key), "{err}");
    }
}

#[test]
fn password_checks_default_to_one_per_core_and_refuse_zero() {
    let s = Settings::from_sources(None, env(&[])).unwrap();
    assert_eq!(s.password_check_concurrency, defaults::available_cores());
    assert!(s.password_check_concurrency >= 1);
    assert_eq!(s.password_check_queue, 64);
    let zero = env(&[("TESSERA_PASSWORD_CHECK_CONCURRENCY", "0")]);
    assert!(Settings::from_sources(None, zero).is_err());
    let no_queue = env(&[("TESSERA_PASSWORD_CHECK_QUEUE", "0")]);
    assert_eq!(
        Settings::from_sources(None, no_queue)
            .unwrap()
            .password_check_queue,
        0
    );
}

#[test]
fn the_known_keys_are_the_fields() {
    let keys = sources::field_names::<Settings>();
    assert_eq!(keys.len(), 30);
    assert_eq!(keys.first(), Some(&"listen"));
    assert!(keys.contains(&"password_check_queue"));
}
