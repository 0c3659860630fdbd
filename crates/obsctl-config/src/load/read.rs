//! Reading the file into the raw config with every problem reported at once, not only the first
//! serde meets: a key that is unknown or of the wrong type is noted with its line, a fix in
//! words ("did you mean", "write it in quotes"), and its line set aside (blanked, so line
//! numbers stay), and the rest is read again. A syntax error ends the reading (what follows it
//! cannot be read), with the same words for the common slips (an unquoted address).

use super::super::error::Problems;
use super::super::raw::RawConfig;
use super::runbooks::edit_distance;

/// Passes at most: one per problem found.
const MAX_PASSES: usize = 64;

/// The raw config (of the text with its unreadable lines set aside, so the checks of what
/// could be read still run and report too), or `None` when nothing more can be read.
pub(super) fn raw(text: &str, p: &mut Problems<'_>) -> Option<RawConfig> {
    if let Err(e) = text.parse::<toml::Table>() {
        let line = e.span().map(|s| line_text(text, s.start)).unwrap_or_default();
        p.at(e.span(), key_of(line).unwrap_or("syntax"), syntax_words(e.message(), line));
        return None;
    }
    let mut current = text.to_string();
    let mut found = false; // a line was set aside
    for _ in 0..MAX_PASSES {
        let e = match toml::from_str::<RawConfig>(&current) {
            Ok(raw) => return Some(raw),
            Err(e) => e,
        };
        // A field missing after a line was set aside is that line's doing: already said.
        if found && e.message().starts_with("missing field") {
            return None;
        }
        let Some(span) = e.span() else {
            p.at(None, "config", e.message().trim().to_string());
            return None;
        };
        let line = line_text(&current, span.start).to_string();
        let field = backticked(e.message()).filter(|_| e.message().starts_with("unknown field"));
        let field = field.or_else(|| key_of(&line).map(str::to_string)).unwrap_or_else(|| "config".into());
        p.at(Some(span.clone()), field, data_words(e.message()));
        found = true;
        if !blank(&mut current, span) {
            return None;
        }
    }
    None
}

/// The line that holds byte `at`.
fn line_text(text: &str, at: usize) -> &str {
    let at = at.min(text.len());
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    &text[start..end]
}

/// The key a `key = value` line sets.
fn key_of(line: &str) -> Option<&str> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty() && !key.starts_with('[')).then_some(key)
}

/// Blanks the lines `span` touches (spaces, so every later offset and line number holds);
/// false when there is nothing left to blank there.
fn blank(text: &mut String, span: std::ops::Range<usize>) -> bool {
    let start = text[..span.start.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let end = text[span.end.min(text.len())..].find('\n').map_or(text.len(), |i| span.end + i);
    if text[start..end].trim().is_empty() {
        return false;
    }
    // Byte for byte, newlines kept: every offset after it, and every line number, still holds.
    let spaces: String = text.as_bytes()[start..end].iter().map(|b| if *b == b'\n' { '\n' } else { ' ' }).collect();
    text.replace_range(start..end, &spaces);
    true
}

/// The first word in backticks of a serde message.
fn backticked(message: &str) -> Option<String> {
    message.split('`').nth(1).filter(|w| !w.is_empty()).map(str::to_string)
}

/// Serde's words for a key or value it could not take, as a fix.
fn data_words(message: &str) -> String {
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let words: Vec<&str> = rest.split('`').collect();
        let unknown = words.get(1).copied().unwrap_or("");
        let expected: Vec<&str> = words.iter().skip(3).step_by(2).copied().collect();
        let near = expected
            .iter()
            .copied()
            .min_by_key(|e| edit_distance(unknown, e))
            .filter(|e| edit_distance(unknown, e) <= 2);
        return match near {
            Some(meant) => format!("unknown key {unknown:?}; did you mean {meant:?}?"),
            None if expected.is_empty() => format!("unknown key {unknown:?}; remove it"),
            None if expected.len() <= 12 => {
                format!("unknown key {unknown:?}; this section takes {}", expected.join(", "))
            }
            None => {
                format!("unknown key {unknown:?}; remove it (docs/configuration.md lists this section's keys)")
            }
        };
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (found, wanted) = rest.split_once(", expected ").unwrap_or((rest, "another type"));
        let hint = if wanted.contains("string") && found.starts_with("integer") {
            ": write it in quotes, with a unit where it is a duration or a size (e.g. \"2s\", \"10MB\")"
        } else if wanted.contains("string") {
            ": write it in quotes"
        } else {
            ""
        };
        return format!("is {found} where {wanted} is expected{hint}");
    }
    format!("{message}; see `obsctl init` for a commented example")
}

/// TOML's words for text it could not read, with the fix for the common slips.
fn syntax_words(message: &str, line: &str) -> String {
    let message = message.trim();
    let value = line.split_once('=').map(|(_, v)| v.trim()).unwrap_or("");
    let unquoted = !value.is_empty()
        && !value.starts_with(['"', '\'', '[', '{'])
        && value.parse::<f64>().is_err()
        && !matches!(value, "true" | "false");
    if unquoted && let Some(key) = key_of(line) {
        return format!(
            "{value} is not a number, true/false, list or table: write text in quotes, {key} = \"{value}\""
        );
    }
    format!("cannot be read as TOML ({message}); see `obsctl init` for a commented example")
}
