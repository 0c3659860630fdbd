//! A string that never prints: `Debug`, `Display` and `Serialize` all show `***`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value, for the one place that must send it (an auth header, a password).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Replaces every occurrence of each secret (of 4 or more bytes) in `text` with `***`.
pub fn redact(text: &str, secrets: &[&Secret]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if s.0.len() >= 4 {
            out = out.replace(&s.0, "***");
        }
    }
    out
}

/// `redact` applied to every string of a JSON value, keys included. It works on the tree, not on
/// serialized text, so no secret can survive because a replacement broke the encoding.
pub fn redact_value(value: &serde_json::Value, secrets: &[&Secret]) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(redact(s, secrets)),
        Value::Array(items) => Value::Array(items.iter().map(|v| redact_value(v, secrets)).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (redact(k, secrets), redact_value(v, secrets))).collect())
        }
        other => other.clone(),
    }
}

/// Every match of any of `patterns` in every string of a JSON value (keys included) replaced
/// with `***`: configured shapes of sensitive text (`[llm] redact`), beyond the known secrets.
pub fn redact_patterns(value: &serde_json::Value, patterns: &[regex::Regex]) -> serde_json::Value {
    use serde_json::Value;
    let text = |s: &str| patterns.iter().fold(s.to_string(), |acc, re| re.replace_all(&acc, "***").into_owned());
    match value {
        Value::String(s) => Value::String(text(s)),
        Value::Array(items) => Value::Array(items.iter().map(|v| redact_patterns(v, patterns)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (text(k), redact_patterns(v, patterns))).collect()),
        other => other.clone(),
    }
}

/// Key names whose values are credentials whatever they hold.
const SENSITIVE_KEYS: [&str; 9] =
    ["password", "passwd", "secret", "token", "api_key", "apikey", "authorization", "cookie", "credential"];

/// For showing configuration to people: `redact_value`, plus every value under a key that names a
/// credential (`password`, `token`, `authorization`, …) and every URL's userinfo and query
/// values masked.
pub fn mask_for_display(value: &serde_json::Value, secrets: &[&Secret]) -> serde_json::Value {
    use serde_json::Value;
    fn walk(v: &mut Value) {
        match v {
            Value::String(s) if s.contains("://") => *s = mask_url(s),
            Value::Array(items) => items.iter_mut().for_each(walk),
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    let k = k.to_ascii_lowercase();
                    if SENSITIVE_KEYS.iter().any(|s| k.contains(s)) && !v.is_null() {
                        *v = Value::String("***".into());
                    } else {
                        walk(v);
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = redact_value(value, secrets);
    walk(&mut out);
    out
}

/// A URL with its password and query values replaced by `***`:
/// `https://u:pw@h/p?token=abc&x=1` → `https://u:***@h/p?token=***&x=***`.
pub fn mask_url(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let mut out = match head.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
            let authority = match authority.rsplit_once('@') {
                Some((user, host)) => match user.split_once(':') {
                    Some((name, _)) => format!("{name}:***@{host}"),
                    None => format!("{user}@{host}"),
                },
                None => authority.to_string(),
            };
            format!("{scheme}://{authority}{}", path.map(|p| format!("/{p}")).unwrap_or_default())
        }
        None => head.to_string(),
    };
    if let Some(q) = query {
        let masked: Vec<String> = q
            .split('&')
            .map(|pair| pair.split_once('=').map_or(pair.to_string(), |(k, _)| format!("{k}=***")))
            .collect();
        out.push('?');
        out.push_str(&masked.join("&"));
    }
    out
}

/// `serialize_with` for URL fields that people see.
pub fn serialize_masked_url<S: Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&mask_url(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("hunter22");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
        assert_eq!(redact("token=hunter22;", &[&s]), "token=***;");
    }

    #[test]
    fn redacts_every_string_of_a_value_and_never_breaks_it() {
        // A secret holding a quote: replacing it in serialized JSON would break the encoding.
        let s = Secret::new("pa\"ss\\word");
        let value = serde_json::json!({"args": ["--password", "pa\"ss\\word"], "pa\"ss\\word": {"n": 1}});
        let out = redact_value(&value, &[&s]);
        assert_eq!(out, serde_json::json!({"args": ["--password", "***"], "***": {"n": 1}}));
    }

    mod properties {
        use proptest::prelude::*;
        use serde_json::Value;

        use super::super::*;

        /// Every string of a value, keys included.
        fn strings(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::String(s) => out.push(s.clone()),
                Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
                Value::Object(map) => map.iter().for_each(|(k, v)| {
                    out.push(k.clone());
                    strings(v, out)
                }),
                _ => {}
            }
        }

        fn tree(secret: String) -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                any::<String>().prop_map(Value::String),
                (any::<String>(), any::<String>()).prop_map(move |(a, b)| Value::String(format!("{a}{secret}{b}"))),
                any::<i64>().prop_map(Value::from),
                Just(Value::Null),
            ];
            leaf.prop_recursive(4, 32, 6, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    proptest::collection::btree_map(any::<String>(), inner, 0..6)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #[test]
            fn no_secret_survives_anywhere_in_a_value(
                (secret, value) in "[a-zA-Z0-9]{4,12}".prop_flat_map(|s| (Just(s.clone()), tree(s)))
            ) {
                let s = Secret::new(secret.clone());
                let mut all = Vec::new();
                strings(&redact_value(&value, &[&s]), &mut all);
                prop_assert!(all.iter().all(|text| !text.contains(&secret)), "{secret} survived in {all:?}");
            }

            #[test]
            fn masked_urls_keep_no_query_value(host in "[a-z]{1,10}", key in "[a-z]{1,6}", v in "[A-Z0-9]{6,20}", tail in any::<String>()) {
                let masked = mask_url(&format!("https://{host}/p?{key}={v}&x{tail}"));
                prop_assert!(!masked.contains(&format!("={v}")), "{masked}");
            }
        }
    }

    #[test]
    fn masks_what_people_should_not_see() {
        let cases = [
            ("https://user:pw@example.org/hook?token=abc&x=1", "https://user:***@example.org/hook?token=***&x=***"),
            ("http://127.0.0.1:8080/health", "http://127.0.0.1:8080/health"),
            ("postgres://obsctl@db:5432/obsctl", "postgres://obsctl@db:5432/obsctl"),
        ];
        for (url, masked) in cases {
            assert_eq!(mask_url(url), masked);
        }
        let config = serde_json::json!({"runbook": [{"args": {"Authorization": "Bearer x", "path": "/tmp", "db_password": "p"}}]});
        let shown = mask_for_display(&config, &[]);
        assert_eq!(
            shown,
            serde_json::json!({"runbook": [{"args": {"Authorization": "***", "path": "/tmp", "db_password": "***"}}]})
        );
    }
}
