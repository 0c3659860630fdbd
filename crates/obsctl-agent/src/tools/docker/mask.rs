//! Masking credentials in what the engine tells: a printed log line, and a container's whole
//! record (`docker.inspect`), which reaches MCP clients and the model.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// Shapes of credentials that programs print: `password=…`, `Bearer …`, `user:pass@` in URLs.
static CREDENTIALS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r#"(?i)((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|credential)s?["']?\s*[:=]\s*["']?)[^\s"',;&]+"#,
        r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}",
        r"(://)[^/\s:@]+:[^/\s@]+@",
    ]
    .iter()
    .filter_map(|p| Regex::new(p).ok())
    .collect()
});

/// `line` with every credential-shaped part masked.
pub fn mask_credentials(line: &str) -> String {
    let [assignment, scheme, userinfo] = CREDENTIALS.as_slice() else { return line.to_string() };
    let line = assignment.replace_all(line, "${1}***");
    let line = scheme.replace_all(&line, "${1} ***");
    userinfo.replace_all(&line, "${1}***:***@").into_owned()
}

/// A flag whose next argument is a credential: `--password s3cr3t`, `-token x`.
static SECRET_FLAG: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?i)^-{1,2}[a-z0-9_.-]*(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|credential|auth)[a-z0-9_.-]*$").ok()
});

/// A label or option name whose value is a credential (`traefik….basicauth.users`, `…token`).
static SECRET_KEY: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?i)(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|credential|auth|users)").ok()
});

fn matches(re: &LazyLock<Option<Regex>>, text: &str) -> bool {
    re.as_ref().is_some_and(|r| r.is_match(text))
}

/// An argument vector with credential-shaped parts masked, and the argument after a flag that
/// names a credential masked whole.
/// A command line given as one string is masked word by word the same way.
fn mask_argv(argv: &mut Value) {
    let mut after_flag = false;
    let mut mask = |text: &str| {
        let masked = if after_flag { "***".to_string() } else { mask_credentials(text) };
        after_flag = matches(&SECRET_FLAG, text);
        masked
    };
    match argv {
        Value::Array(args) => {
            for arg in args.iter_mut() {
                if let Some(text) = arg.as_str() {
                    *arg = Value::String(mask(text));
                }
            }
        }
        Value::String(text) => *text = text.split_whitespace().map(&mut mask).collect::<Vec<_>>().join(" "),
        _ => {}
    }
}

/// A container's record with every place a credential usually sits masked: environment values,
/// the command line (`Path`, `Args`, `Config.Cmd`, `Config.Entrypoint`), the health check, label
/// values whose names say they are credentials (others through `mask_credentials`), and every
/// log driver option.
pub fn mask_record(record: &mut Value) {
    if let Some(env) = record.pointer_mut("/Config/Env").and_then(Value::as_array_mut) {
        for var in env.iter_mut() {
            if let Some((key, _)) = var.as_str().and_then(|v| v.split_once('=')) {
                *var = Value::String(format!("{key}=***"));
            }
        }
    }
    for pointer in ["/Path", "/Args", "/Config/Cmd", "/Config/Entrypoint", "/Config/Healthcheck/Test"] {
        if let Some(argv) = record.pointer_mut(pointer) {
            mask_argv(argv);
        }
    }
    if let Some(labels) = record.pointer_mut("/Config/Labels").and_then(Value::as_object_mut) {
        for (key, value) in labels.iter_mut() {
            let Some(text) = value.as_str() else { continue };
            *value = Value::String(if matches(&SECRET_KEY, key) { "***".into() } else { mask_credentials(text) });
        }
    }
    if let Some(options) = record.pointer_mut("/HostConfig/LogConfig/Config").and_then(Value::as_object_mut) {
        options.values_mut().for_each(|v| *v = Value::String("***".into()));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{mask_credentials, mask_record};

    #[test]
    fn printed_credentials_are_masked() {
        let cases = [
            ("connecting with password=hunter22 to db", "connecting with password=*** to db"),
            ("DB_PASSWORD: \"s3cr3t\"", "DB_PASSWORD: \"***\""),
            ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.x.y", "Authorization: Bearer ***"),
            ("dsn postgres://app:pa55@db:5432/shop", "dsn postgres://***:***@db:5432/shop"),
            ("api_key=AKIA1234&user=bob", "api_key=***&user=bob"),
            ("GET /health 200 3ms", "GET /health 200 3ms"),
        ];
        for (line, want) in cases {
            assert_eq!(mask_credentials(line), want, "{line}");
        }
    }

    /// Issue 26, finding 6: only `Config.Env` was masked.
    #[test]
    fn a_container_record_keeps_no_credential() {
        let mut record = json!({
            "Path": "/app/server",
            "Args": ["--db-password", "hunter22", "--url=postgres://app:pa55@db/shop", "--port", "8080"],
            "Config": {
                "Env": ["API_KEY=k-123"],
                "Cmd": ["serve", "--token=tok-456"],
                "Entrypoint": "/entry.sh --secret s3cr3t-789",
                "Labels": {
                    "traefik.http.middlewares.auth.basicauth.users": "admin:$apr1$xyz$abc",
                    "com.docker.compose.service": "web",
                    "note": "password=in-a-label-1"
                },
                "Healthcheck": {"Test": ["CMD", "curl", "-H", "Authorization: Bearer hc-token-000", "http://localhost/health"]}
            },
            "HostConfig": {"LogConfig": {"Type": "splunk", "Config": {"splunk-token": "spl-999", "splunk-url": "https://s"}}}
        });
        mask_record(&mut record);
        let text = record.to_string();
        for secret in
            ["k-123", "hunter22", "pa55", "tok-456", "s3cr3t-789", "apr1", "in-a-label-1", "hc-token-000", "spl-999"]
        {
            assert!(!text.contains(secret), "{secret} left in {record:#}");
        }
        // What a person investigating needs stays.
        assert_eq!(record["Args"][3], "--port");
        assert_eq!(record["Args"][4], "8080");
        assert_eq!(record["Config"]["Labels"]["com.docker.compose.service"], "web");
        assert_eq!(record["Config"]["Cmd"][0], "serve");
        assert_eq!(record["HostConfig"]["LogConfig"]["Type"], "splunk");
    }
}
