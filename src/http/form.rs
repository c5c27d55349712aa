//! Strict `application/x-www-form-urlencoded` parsing for the OAuth endpoints: the right
//! content type, valid percent-encoding and UTF-8, and no repeated parameter (RFC 6749 §3.2).

use std::collections::BTreeMap;

use percent_encoding::percent_decode;

use crate::oauth::OAuthError;

/// Parameters of a form body, each at most once. Parameters sent without a value are treated
/// as omitted (RFC 6749 §3.1).
#[derive(Default)]
pub struct Form(BTreeMap<String, String>);

impl Form {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }
}

pub fn is_form_content_type(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Form, OAuthError> {
    if !is_form_content_type(content_type) {
        return Err(OAuthError::invalid_request(
            "the request body must be application/x-www-form-urlencoded",
        ));
    }
    let mut out = BTreeMap::new();
    for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let k = decode(k)?;
        let v = decode(v)?;
        if out.contains_key(&k) {
            return Err(OAuthError::invalid_request(format!(
                "parameter {} is repeated",
                printable(&k)
            )));
        }
        out.insert(k, v);
    }
    out.retain(|_, v| !v.is_empty());
    Ok(Form(out))
}

fn decode(raw: &[u8]) -> Result<String, OAuthError> {
    let bad =
        || OAuthError::invalid_request("invalid percent-encoding or UTF-8 in the request body");
    // Every '%' must start a two-hex-digit escape; percent_decode alone would pass "%zz" through.
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            if !(raw.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && raw.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return Err(bad());
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    let plus: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_decode(&plus)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| bad())
}

/// A parameter name safe to echo in an error: short and printable.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CT: Option<&str> = Some("application/x-www-form-urlencoded; charset=UTF-8");

    #[test]
    fn parses_and_decodes() {
        let f = parse(CT, b"a=1&b=x+y%21&empty=").unwrap();
        assert_eq!(f.get("a"), Some("1"));
        assert_eq!(f.get("b"), Some("x y!"));
        assert_eq!(f.get("empty"), None);
    }

    #[test]
    fn rejects_repeats_bad_escapes_and_wrong_type() {
        assert!(parse(CT, b"a=1&a=2").is_err());
        assert!(parse(CT, b"a=%zz").is_err());
        assert!(parse(CT, b"a=%4").is_err());
        assert!(parse(CT, b"a=%ff").is_err());
        assert!(parse(Some("application/json"), b"a=1").is_err());
        assert!(parse(None, b"a=1").is_err());
    }
}
