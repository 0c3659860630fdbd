//! A planned step in words a person can judge in seconds: "restart the supervised process
//! `web` (pid 4121, up 3 days)", from its tool, arguments and the dry-run taken when it was
//! queued. Tools without words of their own read "call `tool` with a = 1, b = 2". The result
//! is HTML: names are escaped and set in `<code>`.

use std::time::Duration;

use serde_json::Value;

use super::when::duration;

fn code(text: &str) -> String {
    let Ok(escaped) = askama::filters::escape(text, askama::filters::Html);
    format!("<code>{escaped}</code>")
}

fn plain(text: &str) -> String {
    let Ok(escaped) = askama::filters::escape(text, askama::filters::Html);
    escaped.to_string()
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// A command line as one string.
fn argv(v: Option<&Value>) -> String {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The step in words; `dry_run` is its recorded dry-run, when it has one.
pub fn describe(tool: &str, args: &Value, dry_run: Option<&Value>) -> String {
    let none = Value::Null;
    let d = dry_run.unwrap_or(&none);
    let arg = |key: &str| text(args, key).unwrap_or_default();
    match tool {
        "process.restart" => {
            let service = code(text(d, "service").unwrap_or(arg("service")));
            match text(d, "would") {
                Some("run restart command") => {
                    format!("run {service}'s restart command {}", code(&argv(d.get("command"))))
                }
                _ => {
                    let state = match (d.get("pid").and_then(Value::as_u64), text(d, "exited")) {
                        (Some(pid), _) => match d.get("up_secs").and_then(Value::as_u64) {
                            Some(up) => format!(" (pid {pid}, up {})", duration(Duration::from_secs(up))),
                            None => format!(" (pid {pid})"),
                        },
                        (None, Some(how)) => format!(" (not running: {})", plain(how)),
                        (None, None) => String::new(),
                    };
                    format!("restart the supervised process {service}{state}")
                }
            }
        }
        "docker.restart" | "docker.start" | "docker.stop" => {
            let verb = tool.trim_start_matches("docker.");
            let name = code(text(d, "container").unwrap_or(arg("container")));
            match text(d, "status").filter(|s| !s.is_empty()) {
                Some(status) => format!("{verb} the container {name} (now {})", plain(status)),
                None => format!("{verb} the container {name}"),
            }
        }
        "docker.prune" => {
            // Every kind the arguments take in (volumes above all: their data is gone for good).
            let takes = |key: &str, default: bool| args.get(key).and_then(Value::as_bool).unwrap_or(default);
            let kinds: Vec<&str> = [
                ("containers", true, "containers"),
                ("images", true, "images"),
                ("build_cache", true, "build cache"),
                ("volumes", false, "volumes <strong>with their data</strong>"),
            ]
            .into_iter()
            .filter(|(key, default, _)| takes(key, *default))
            .map(|(_, _, words)| words)
            .collect();
            let kinds = match kinds.as_slice() {
                [] => "nothing".to_string(),
                [one] => one.to_string(),
                [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
            };
            let label = text(args, "label").map(|l| format!(" labelled {}", code(l))).unwrap_or_default();
            let size = text(d, "would_free").or_else(|| text(d, "size"));
            let freeing = size.map(|s| format!(", freeing about {}", plain(s))).unwrap_or_default();
            format!("remove the engine's unused {kinds}{label}{freeing}")
        }
        "fs.cleanup" => {
            let root = code(text(d, "root").unwrap_or(arg("root")));
            match (d.get("count").and_then(Value::as_u64), text(d, "size")) {
                (Some(n), Some(size)) => {
                    format!(
                        "delete {} ({}) under {root}",
                        obsctl_core::quantity::counted(n as usize, "file"),
                        plain(size)
                    )
                }
                _ => format!("delete old files under {root}"),
            }
        }
        "http.request" => {
            let method = text(d, "would_send").or_else(|| text(args, "method")).unwrap_or("GET");
            format!(
                "send an HTTP {} to {}",
                plain(&method.to_ascii_uppercase()),
                code(text(d, "url").unwrap_or(arg("url")))
            )
        }
        "notify.webhook" | "notify.ntfy" => {
            format!(
                "send the notification “{}”",
                plain(text(args, "title").or_else(|| text(args, "message")).unwrap_or(""))
            )
        }
        "command.run" => format!("run {}", code(&argv(args.get("command")))),
        _ => {
            let pairs: Vec<String> = args
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| {
                            let v = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
                            let v: String =
                                if v.chars().count() > 60 { v.chars().take(59).chain(['…']).collect() } else { v };
                            format!("{} = {}", plain(k), code(&v))
                        })
                        .collect()
                })
                .unwrap_or_default();
            if pairs.is_empty() {
                format!("call {}", code(tool))
            } else {
                format!("call {} with {}", code(tool), pairs.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What a person approves names everything the prune removes (issue 26, finding 11: the
    /// sentence left out `volumes = true` and the label, so volumes went unannounced).
    #[test]
    fn a_prune_names_every_kind_it_removes_and_its_label() {
        let all = json!({"volumes": true, "label": "env=staging"});
        assert_eq!(
            describe("docker.prune", &all, Some(&json!({"would_free": "2.0 GB"}))),
            "remove the engine's unused containers, images, build cache and volumes <strong>with their data</strong> \
             labelled <code>env=staging</code>, freeing about 2.0 GB"
        );
        let images = json!({"containers": false, "build_cache": false});
        assert_eq!(describe("docker.prune", &images, None), "remove the engine's unused images");
    }

    #[test]
    fn steps_read_as_sentences() {
        let restart = json!({"would": "restart supervised process", "service": "web", "pid": 4121, "up_secs": 3 * 86_400 + 60, "run": ["/usr/bin/python3", "app.py"]});
        assert_eq!(
            describe("process.restart", &json!({"service": "web"}), Some(&restart)),
            "restart the supervised process <code>web</code> (pid 4121, up 3 days)"
        );
        let crashed =
            json!({"would": "restart supervised process", "service": "web", "pid": null, "exited": "exit status: 1"});
        assert_eq!(
            describe("process.restart", &json!({"service": "web"}), Some(&crashed)),
            "restart the supervised process <code>web</code> (not running: exit status: 1)"
        );
        assert_eq!(
            describe(
                "http.request",
                &json!({"url": "http://x/fix", "method": "post"}),
                Some(&json!({"would_send": "POST", "url": "http://x/fix"}))
            ),
            "send an HTTP POST to <code>http://x/fix</code>"
        );
        assert_eq!(
            describe(
                "fs.cleanup",
                &json!({"root": "/scratch"}),
                Some(&json!({"root": "/scratch", "count": 12, "size": "3.1 MB"}))
            ),
            "delete 12 files (3.1 MB) under <code>/scratch</code>"
        );
        assert_eq!(
            describe(
                "docker.restart",
                &json!({"container": "shop-web"}),
                Some(&json!({"container": "shop-web", "status": "Exited (1) 2 minutes ago"}))
            ),
            "restart the container <code>shop-web</code> (now Exited (1) 2 minutes ago)"
        );
        assert_eq!(
            describe("github.create_issue", &json!({"title": "<script>", "n": 3}), None),
            "call <code>github.create_issue</code> with n = <code>3</code>, title = <code>&#60;script&#62;</code>"
        );
    }
}
