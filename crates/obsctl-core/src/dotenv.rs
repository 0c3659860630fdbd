//! The one `.env` reader of the project (obsctl's own `.env` beside its config, and an
//! application's for `telemetry check`), read strictly as dotenv tools write it: `KEY=value`
//! lines, `#` comments, an optional `export `, values bare (a `#` after white space starts a
//! comment, so `TOKEN=change-me   # note` is `change-me`), in single quotes (taken as written)
//! or in double quotes (`\"`, `\\` and `\n` escapes). A line that is none of these is an error
//! naming its line, so a stray quote does not silently swallow the variables after it.

/// The variables in file order, or every line that could not be read.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, Vec<String>> {
    let mut vars = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, value)) = line.split_once('=') else {
            errors.push(format!("line {n}: {line:?} is not KEY=value"));
            continue;
        };
        let key = key.trim();
        if key.is_empty()
            || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || key.starts_with(|c: char| c.is_ascii_digit())
        {
            errors.push(format!(
                "line {n}: {key:?} is not a variable name (letters, digits and _, not starting with a digit)"
            ));
            continue;
        }
        match unquote(value.trim()) {
            Ok(v) => vars.push((key.to_string(), v)),
            Err(why) => errors.push(format!("line {n}: the value of {key} {why}")),
        }
    }
    if errors.is_empty() { Ok(vars) } else { Err(errors) }
}

fn unquote(text: &str) -> Result<String, String> {
    let Some(quote) = text.chars().next().filter(|c| *c == '"' || *c == '\'') else {
        // Bare: up to a `#` that follows white space (a comment).
        let comment = text
            .char_indices()
            .find(|&(i, c)| c == '#' && text[..i].chars().next_back().is_some_and(char::is_whitespace));
        let bare = comment.map_or(text, |(i, _)| &text[..i]).trim_end();
        if bare.contains(['"', '\'']) {
            return Err("has a quote inside a bare value; quote the whole value".into());
        }
        return Ok(bare.to_string());
    };
    let mut out = String::new();
    let mut chars = text[1..].chars();
    while let Some(c) = chars.next() {
        match c {
            c if c == quote => {
                let rest = chars.as_str().trim_start();
                if !rest.is_empty() && !rest.starts_with('#') {
                    return Err(format!("has {rest:?} after its closing quote"));
                }
                return Ok(out);
            }
            '\\' if quote == '"' => match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => break,
            },
            c => out.push(c),
        }
    }
    Err(format!("opens a {quote} quote that never closes on its line"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_shells_and_dotenv_tools_write_them() {
        let text =
            "# app\nexport OTEL_SERVICE_NAME=shop # the name\nA=\"x \\\"y\\\" # not a comment\"\nB='$raw \\n'\n\nC=\n";
        let vars = parse(text).unwrap();
        assert_eq!(
            vars,
            [
                ("OTEL_SERVICE_NAME".to_string(), "shop".to_string()),
                ("A".into(), "x \"y\" # not a comment".into()),
                ("B".into(), "$raw \\n".into()),
                ("C".into(), String::new()),
            ]
        );
    }

    /// Issue 27, finding 2: the `.env.example` that `obsctl init` writes, copied to `.env`, kept
    /// its comment inside the token (and passed the 16-character minimum).
    #[test]
    fn comments_after_a_value_are_not_part_of_it() {
        let text = "OBSCTL_API_TOKEN=change-me              # bearer token for mutating API calls
                    TABBED=x\t# after a tab
HASH=a#b
URL=http://h/p#frag # a note
";
        let vars: std::collections::HashMap<_, _> = parse(text).unwrap().into_iter().collect();
        assert_eq!(vars["OBSCTL_API_TOKEN"], "change-me");
        assert_eq!(vars["TABBED"], "x");
        assert_eq!(vars["HASH"], "a#b", "a # inside a word is part of it");
        assert_eq!(vars["URL"], "http://h/p#frag");
    }

    #[test]
    fn odd_lines_are_errors_with_their_line() {
        let text = "OK=1\nA=\"open\nB=x\"y\nnot a line\n9X=1\nC='a' b\n";
        let errors = parse(text).unwrap_err();
        assert_eq!(errors.len(), 5, "{errors:#?}");
        assert!(errors[0].starts_with("line 2: the value of A opens a \" quote that never closes"), "{errors:#?}");
        assert!(errors[1].starts_with("line 3: the value of B has a quote inside a bare value"), "{errors:#?}");
        assert!(errors[2].starts_with("line 4: \"not a line\" is not KEY=value"), "{errors:#?}");
        assert!(errors[3].starts_with("line 5: \"9X\" is not a variable name"), "{errors:#?}");
        assert!(errors[4].starts_with("line 6: the value of C has \"b\" after its closing quote"), "{errors:#?}");
    }
}
