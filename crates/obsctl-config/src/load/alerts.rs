//! `[alerts]`: the service label, the `alertname` → kind table, limits, and each source's
//! credential (`[alerts.alertmanager]`, `[alerts.grafana]`, `[alerts.generic]`: a bearer
//! `token`, or `username` and `password` for basic auth).

use super::super::raw::{RawAlertSource, RawConfig, S};
use super::Validator;
use super::access::MIN_TOKEN_CHARS;
use crate::*;
use obsctl_core::alert::AlertSource;
use obsctl_core::quantity::parse_size;

impl Validator<'_, '_> {
    pub(super) fn alerts(&mut self, raw: &RawConfig) -> AlertsConfig {
        let r = &raw.alerts;
        let mut alerts = AlertsConfig::default();
        if let Some(label) = &r.service_label {
            if label.get_ref().trim().is_empty() {
                self.p.at(
                    Some(label.span()),
                    "alerts.service_label",
                    "is empty; name a label, e.g. \"service\" or \"job\"",
                );
            } else {
                alerts.service_label = label.get_ref().clone();
            }
        }
        for (name, kind) in &r.kinds {
            if kind.trim().is_empty() {
                self.p.at(None, format!("alerts.kinds.{name}"), "is empty; name the incident kind, e.g. \"http-down\"");
            }
        }
        alerts.kinds = r.kinds.clone();
        if let Some(size) = &r.max_body {
            match parse_size(size.get_ref()) {
                Ok(n) if n >= 1024 => alerts.max_body = n as usize,
                Ok(_) => self.p.at(
                    Some(size.span()),
                    "alerts.max_body",
                    "is below 1KiB; Alertmanager's batches need e.g. \"1MiB\"",
                ),
                Err(e) => self.p.at(Some(size.span()), "alerts.max_body", e),
            }
        }
        if let Some(n) = r.max_in_flight {
            alerts.max_in_flight = n.clamp(1, 1024) as usize;
        }
        let sources = [
            (AlertSource::Alertmanager, r.alertmanager.as_ref()),
            (AlertSource::Grafana, r.grafana.as_ref()),
            (AlertSource::Generic, r.generic.as_ref()),
        ];
        for (source, raw_source) in sources {
            if let Some(auth) = raw_source.and_then(|s| self.alert_auth(source, s)) {
                alerts.auth.insert(source, auth);
            }
        }
        alerts
    }

    fn alert_auth(&mut self, source: AlertSource, s: &RawAlertSource) -> Option<AlertAuth> {
        let field = |f: &str| format!("alerts.{}.{f}", source.as_str());
        match (given(&s.token), given(&s.username), given(&s.password)) {
            (None, None, None) => None,
            (Some(token), None, None) => {
                if token.get_ref().chars().count() < MIN_TOKEN_CHARS {
                    self.p.at(
                        Some(token.span()),
                        field("token"),
                        format!("is shorter than {MIN_TOKEN_CHARS} characters; use e.g. the output of `openssl rand -hex 32`"),
                    );
                }
                Some(AlertAuth::Bearer(Secret::new(token.get_ref().clone())))
            }
            (None, Some(user), Some(password)) => {
                if password.get_ref().chars().count() < MIN_TOKEN_CHARS {
                    self.p.at(
                        Some(password.span()),
                        field("password"),
                        format!("is shorter than {MIN_TOKEN_CHARS} characters; use e.g. the output of `openssl rand -hex 32`"),
                    );
                }
                Some(AlertAuth::Basic {
                    username: user.get_ref().clone(),
                    password: Secret::new(password.get_ref().clone()),
                })
            }
            (token, user, password) => {
                let span = token.or(user).or(password).map(|v| v.span());
                self.p.at(
                    span,
                    field("token"),
                    "give either token (bearer) or username and password (basic), not a mix or half of one",
                );
                None
            }
        }
    }
}

/// A field that is set and not empty.
fn given(value: &Option<S<String>>) -> Option<&S<String>> {
    value.as_ref().filter(|v| !v.get_ref().is_empty())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::*;
    use obsctl_core::alert::AlertSource;

    fn load_text(text: &str) -> Result<Config, ConfigErrors> {
        load(text, &HashMap::new(), &LoadOptions { file: "obsctl.toml", known_tools: &["http.request"] })
    }

    #[test]
    fn sources_kinds_and_limits_load() {
        let config = load_text(
            r#"
[alerts]
service_label = "job"
max_body = "2MiB"
max_in_flight = 2
[alerts.kinds]
KubePodCrashLooping = "pod-crashloop"
[alerts.alertmanager]
token = "0123456789abcdef0123"
[alerts.grafana]
username = "grafana"
password = "0123456789abcdef0123"

[[runbook]]
name = "a"
when = { incident = "pod-crashloop" }
steps = [{ tool = "http.request", args = { url = "http://x" } }]
[[runbook]]
name = "b"
when = { incident = "HighErrorRate" }
steps = [{ tool = "http.request", args = { url = "http://x" } }]
"#,
        )
        .unwrap();
        let a = &config.alerts;
        assert_eq!((a.service_label.as_str(), a.max_body, a.max_in_flight), ("job", 2 << 20, 2));
        assert!(matches!(a.auth[&AlertSource::Alertmanager], AlertAuth::Bearer(_)));
        assert!(matches!(&a.auth[&AlertSource::Grafana], AlertAuth::Basic { username, .. } if username == "grafana"));
        assert_eq!(config.secrets().iter().filter(|s| s.expose() == "0123456789abcdef0123").count(), 2);
        let labels = [("alertname".to_string(), "KubePodCrashLooping".to_string())].into();
        assert_eq!((a.kind_of(&labels), a.service_of(&labels)), ("pod-crashloop".into(), "unknown".into()));
    }

    #[test]
    fn half_a_credential_short_secrets_and_misspelt_kinds_are_refused() {
        let errors = load_text(
            r#"
[alerts]
max_body = "12"
[alerts.grafana]
username = "grafana"
[alerts.generic]
token = "short"

[[runbook]]
name = "typo"
when = { incident = "http_dwn" }
steps = [{ tool = "http.request", args = { url = "http://x" } }]
"#,
        )
        .unwrap_err()
        .0;
        let got: Vec<(Option<usize>, &str)> = errors.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(
            got,
            [
                (Some(3), "alerts.max_body"),
                (Some(5), "alerts.grafana.token"),
                (Some(7), "alerts.generic.token"),
                (Some(11), "runbook[0].when.incident"),
            ],
            "{errors:#?}"
        );
        assert!(errors[3].message.contains("did you mean \"http-down\""), "{}", errors[3].message);
    }
}
