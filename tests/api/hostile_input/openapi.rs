//! The OpenAPI description covers every route, and the server serves every documented operation.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::db_test;

const ROUTES_SRC: &str = include_str!("../../../src/http/mod.rs");
const OPENAPI: &str = include_str!("../../../docs/openapi.yaml");
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// The routes named by the filter comments in src/http/mod.rs, like `// GET /api/tokens/{id}`.
fn served_routes(src: &str) -> BTreeSet<(String, String)> {
    src.lines()
        .filter_map(|line| {
            let mut words = line.trim().strip_prefix("// ")?.split_whitespace();
            let (method, path) = (words.next()?, words.next()?);
            (METHODS.contains(&method) && path.starts_with('/'))
                .then(|| (method.to_string(), path.to_string()))
        })
        .collect()
}

/// The operations of an OpenAPI YAML document: path keys indented by two spaces under the
/// top-level `paths:`, and their method keys indented by four.
fn documented_operations(yaml: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut in_paths = false;
    let mut path: Option<String> = None;
    for line in yaml.lines() {
        let content = line.trim_end();
        if content.is_empty() || content.trim_start().starts_with('#') {
            continue;
        }
        if !content.starts_with(' ') {
            in_paths = content == "paths:";
            path = None;
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(key) = content.strip_prefix("  ").filter(|k| !k.starts_with(' ')) {
            path = key
                .strip_suffix(':')
                .map(|p| p.trim_matches('"').trim_matches('\'').to_string());
        } else if let Some(key) = content.strip_prefix("    ").filter(|k| !k.starts_with(' ')) {
            let method = key.strip_suffix(':').unwrap_or("").to_ascii_uppercase();
            if let (Some(p), true) = (&path, METHODS.contains(&method.as_str())) {
                out.insert((method, p.clone()));
            }
        }
    }
    out
}

fn undocumented(served: &BTreeSet<(String, String)>, yaml: &str) -> Vec<(String, String)> {
    served
        .difference(&documented_operations(yaml))
        .cloned()
        .collect()
}

#[test]
fn every_served_route_is_in_the_openapi_description() {
    let served = served_routes(ROUTES_SRC);
    assert_eq!(
        served.len(),
        ROUTES_SRC.matches("warp::path!(").count(),
        "every route filter in src/http/mod.rs needs its `// METHOD /path` comment: {served:?}"
    );
    let missing = undocumented(&served, OPENAPI);
    assert!(
        missing.is_empty(),
        "routes served but missing from docs/openapi.yaml: {missing:?}"
    );
    let documented = documented_operations(OPENAPI);
    let phantom: Vec<_> = documented.difference(&served).collect();
    assert!(
        phantom.is_empty(),
        "operations in docs/openapi.yaml that tessera does not serve: {phantom:?}"
    );
}

db_test!(
    every_documented_operation_is_served_by_the_running_server,
    |app| {
        // The comment check above trusts the `// METHOD /path` comments; this asks the server. A
        // documented operation must reach a handler: not warp's "no such endpoint" 404, not 405.
        let documented = documented_operations(OPENAPI);
        assert!(documented.len() >= 18, "{documented:?}");
        for (method, path) in &documented {
            let concrete: String = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { "x" } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let r = app
                .http
                .request(m, app.url(&concrete))
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            assert_ne!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: {body}"
            );
            assert!(
                !(status == StatusCode::NOT_FOUND
                    && body["error_description"] == "no such endpoint"),
                "{method} {path} is documented but not served: {body}"
            );
        }
        // And the check can fail: an undocumented path is "no such endpoint".
        let r = app.get("/api/not-an-endpoint").await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            r.json::<Value>().await.unwrap()["error_description"],
            "no such endpoint"
        );
    }
);

#[test]
fn the_route_check_notices_a_missing_route() {
    let served = served_routes(ROUTES_SRC);
    assert!(
        served.contains(&("GET".to_string(), "/api/me".to_string())),
        "{served:?}"
    );
    let without_me = OPENAPI.replace("\n  /api/me:\n", "\n  /api/not-me:\n");
    assert_ne!(without_me, OPENAPI, "the fixture edit must apply");
    assert_eq!(
        undocumented(&served, &without_me),
        [("GET".to_string(), "/api/me".to_string())]
    );
    let without_delete = OPENAPI.replace(
        "\n    delete:\n      tags: [api]\n      operationId: revokeToken",
        "\n    x-gone:",
    );
    assert_ne!(without_delete, OPENAPI, "the fixture edit must apply");
    assert_eq!(
        undocumented(&served, &without_delete),
        [("DELETE".to_string(), "/api/tokens/{id}".to_string())]
    );
}
