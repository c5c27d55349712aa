//! Reading fields of JSON answers.

use serde_json::Value;

/// The string field `field` of `v` (panics, showing `v`, when it is missing or not a string).
pub fn s<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is not a string: {v}"))
}

/// [`s`], owned.
pub fn string(v: &Value, field: &str) -> String {
    s(v, field).to_string()
}
