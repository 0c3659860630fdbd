//! `[llm]`: the LLM planner's endpoint, model, key and budgets. The original system's variables
//! work too: `LLM_BASE_URL`, `GOOSE_MODEL`, `GOOSEAI_API_KEY` (the environment wins).

use std::time::Duration;

use super::super::raw::RawConfig;
use super::Validator;
use crate::*;

impl Validator<'_, '_> {
    /// The LLM config, or `None` when no endpoint and model are set (the planner is off).
    pub(super) fn llm(&mut self, raw: &RawConfig) -> Option<LlmConfig> {
        let r = raw.llm.as_ref();
        let text = |v: Option<&super::super::raw::S<String>>| v.map(|s| s.get_ref().clone()).filter(|s| !s.is_empty());
        let base_url = self.env_var("LLM_BASE_URL").or_else(|| text(r.and_then(|r| r.base_url.as_ref())));
        let model = self.env_var("GOOSE_MODEL").or_else(|| text(r.and_then(|r| r.model.as_ref())));
        let api_key = self.env_var("GOOSEAI_API_KEY").or_else(|| text(r.and_then(|r| r.api_key.as_ref())));
        let (base_url, model) = match (base_url, model) {
            (Some(b), Some(m)) => (b, m),
            (None, None) => return None,
            (b, _) => {
                let missing = if b.is_none() { "llm.base_url" } else { "llm.model" };
                let span = r.and_then(|r| r.base_url.as_ref().or(r.model.as_ref())).map(|s| s.span());
                self.p.at(
                    span,
                    missing,
                    "is missing: the LLM planner needs both base_url and model (or LLM_BASE_URL and GOOSE_MODEL)",
                );
                return None;
            }
        };
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            let span = r.and_then(|r| r.base_url.as_ref()).map(|s| s.span());
            self.p.at(
                span,
                "llm.base_url",
                format!("{base_url:?} is not an http(s) URL; e.g. \"http://127.0.0.1:8080/v1\""),
            );
        }
        let api = match r.and_then(|r| r.api.as_ref()) {
            None => LlmApi::Chat,
            Some(a) => match a.get_ref().as_str() {
                "chat" => LlmApi::Chat,
                "completions" => LlmApi::Completions,
                other => {
                    self.p.at(
                        Some(a.span()),
                        "llm.api",
                        format!("{other:?} is not an API; use chat (tool calling) or completions"),
                    );
                    LlmApi::Chat
                }
            },
        };
        let timeout = self.duration(r.and_then(|r| r.timeout.as_ref()), "llm.timeout", Duration::from_secs(60));
        let mut redact = Vec::new();
        for (i, pattern) in r.map(|r| r.redact.as_slice()).unwrap_or_default().iter().enumerate() {
            match regex::Regex::new(pattern.get_ref()) {
                Ok(_) => redact.push(pattern.get_ref().clone()),
                Err(e) => self.p.at(
                    Some(pattern.span()),
                    format!("llm.redact[{i}]"),
                    format!("is not a regular expression: {}", e.to_string().lines().last().unwrap_or("")),
                ),
            }
        }
        Some(LlmConfig {
            base_url: base_url.trim_end_matches('/').to_string(),
            model,
            api_key: api_key.map(Secret::new),
            api,
            timeout,
            max_steps: r.and_then(|r| r.max_steps).unwrap_or(6).clamp(1, 50),
            max_tokens: r.and_then(|r| r.max_tokens).unwrap_or(32_000),
            max_completion_tokens: r.and_then(|r| r.max_completion_tokens).unwrap_or(1024),
            max_mode: self.mode(r.and_then(|r| r.max_mode.as_ref()), "llm.max_mode").unwrap_or(Mode::Approve),
            redact,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;

    use crate::{LlmApi, LoadOptions, load};

    fn with_env(text: &str, env: &[(&str, &str)]) -> Result<crate::Config, String> {
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        load(text, &env, &LoadOptions { file: "l.toml", known_tools: &[] }).map_err(|e| e.to_string())
    }

    #[test]
    fn the_planner_is_off_unless_an_endpoint_and_a_model_are_set() {
        assert!(with_env("", &[]).unwrap().llm.is_none());
        let c = with_env(
            "[llm]\nbase_url = \"http://127.0.0.1:8080/v1/\"\nmodel = \"smollm2\"\napi = \"completions\"\n",
            &[],
        )
        .unwrap();
        let llm = c.llm.unwrap();
        assert_eq!(
            (llm.base_url.as_str(), llm.model.as_str(), llm.api),
            ("http://127.0.0.1:8080/v1", "smollm2", LlmApi::Completions)
        );
        assert_eq!((llm.max_steps, llm.api_key.is_none()), (6, true));
    }

    #[test]
    fn the_original_system_s_variables_work_and_the_key_is_a_secret() {
        let env = [
            ("LLM_BASE_URL", "https://api.goose.ai/v1"),
            ("GOOSE_MODEL", "gpt-neo-20b"),
            ("GOOSEAI_API_KEY", "sk-goose-secret"),
        ];
        let c = with_env("", &env).unwrap();
        let llm = c.llm.as_ref().unwrap();
        assert_eq!((llm.model.as_str(), llm.api_key.as_ref().unwrap().expose()), ("gpt-neo-20b", "sk-goose-secret"));
        assert!(c.secrets().iter().any(|s| s.expose() == "sk-goose-secret"));
        assert!(!format!("{c:?}").contains("sk-goose-secret"));
    }

    #[test]
    fn half_a_config_and_bad_values_are_refused() {
        let err = with_env("[llm]\nmodel = \"m\"\n", &[]).unwrap_err();
        assert!(err.contains("llm.base_url") && err.contains("is missing"), "{err}");
        let err =
            with_env("[llm]\nbase_url = \"ftp://x\"\nmodel = \"m\"\napi = \"magic\"\nredact = [\"AKIA[\"]\n", &[])
                .unwrap_err();
        assert!(err.contains("not an http(s) URL") && err.contains("is not an API"), "{err}");
        assert!(err.contains("llm.redact[0]: is not a regular expression"), "{err}");
    }
}
