//! `${VAR}` and `${VAR:-default}` interpolation, and `.env` parsing.

use std::collections::HashMap;

use super::error::Problems;

/// Variable names whose values are credentials: what they put into the config is redacted
/// wherever obsctl shows, stores or sends text (`Config::secrets`).
pub fn names_a_secret(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    ["TOKEN", "KEY", "SECRET", "PASSWORD", "PASSWD", "PASS", "AUTH", "CREDENTIAL"].iter().any(|s| name.contains(s))
}

/// Replaces `${VAR}` / `${VAR:-default}` outside comments. Values are escaped for a TOML
/// basic string, where interpolation belongs. An unset variable without a default is an error.
/// Values of variables that name a secret are pushed onto `secrets`.
pub(crate) fn interpolate(
    text: &str,
    env: &HashMap<String, String>,
    problems: &mut Problems<'_>,
    secrets: &mut Vec<String>,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            offset += line.len();
            continue;
        }
        let mut rest = line;
        let mut local = 0;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find('}') else {
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let inner = &rest[start + 2..start + end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            match env.get(name).filter(|v| !v.is_empty()).map(String::as_str).or(default) {
                Some(value) => {
                    if names_a_secret(name) && !value.is_empty() {
                        secrets.push(value.to_string());
                    }
                    out.push_str(&value.replace('\\', "\\\\").replace('"', "\\\""))
                }
                None => problems.at(
                    Some(offset + local + start..offset + local + start),
                    format!("${{{name}}}"),
                    format!("environment variable {name} is not set; set it in the environment or .env, or write ${{{name}:-default}}"),
                ),
            }
            local += start + end + 1;
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        offset += line.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_and_reports_missing() {
        let env = HashMap::from([("A".to_string(), "x\"y".to_string())]);
        let text = "a = \"${A}\"\n# ${MISSING}\nb = \"${B:-dflt}\"\nc = \"${C}\"\n";
        let mut p = Problems::new("f.toml", text);
        let mut secrets = Vec::new();
        let out = interpolate(text, &env, &mut p, &mut secrets);
        assert!(secrets.is_empty());
        assert_eq!(out, "a = \"x\\\"y\"\n# ${MISSING}\nb = \"dflt\"\nc = \"\"\n");
        assert_eq!(p.list.len(), 1);
        assert_eq!(p.list[0].line, Some(4));
        assert!(p.list[0].message.contains("C is not set"));
    }

    #[test]
    fn values_of_credential_variables_become_secrets() {
        let env = HashMap::from([
            ("GITHUB_TOKEN".to_string(), "ghp_abc".to_string()),
            ("HOST".to_string(), "db".to_string()),
            ("MEMORI_DB_PASSWORD".to_string(), "pw1234".to_string()),
        ]);
        let text = "a = \"${GITHUB_TOKEN} ${HOST} ${MEMORI_DB_PASSWORD} ${API_KEY:-dflt-key}\"\n";
        let mut p = Problems::new("f.toml", text);
        let mut secrets = Vec::new();
        interpolate(text, &env, &mut p, &mut secrets);
        assert_eq!(secrets, ["ghp_abc", "pw1234", "dflt-key"]);
    }
}
