//! Keeps string parameters intact on servers that paste parameters into the query text:
//! FalkorDB 4.16 does, without escaping, so a `'` breaks the query and a `\` is read as an
//! escape. Strings holding `%`, `'` or `\` are sent percent-encoded and decoded on the way back;
//! every other string, the vast majority, is sent as it is.

use crate::packstream::Value;

const ESCAPED: [(char, &str); 3] = [('%', "%25"), ('\'', "%27"), ('\\', "%5C")];

/// Encodes every string in a parameter value.
pub fn protect(value: Value) -> Value {
    match value {
        Value::String(s) if s.contains(['%', '\'', '\\']) => Value::String(encode(&s)),
        Value::List(items) => Value::List(items.into_iter().map(protect).collect()),
        Value::Map(entries) => Value::Map(entries.into_iter().map(|(k, v)| (k, protect(v))).collect()),
        other => other,
    }
}

/// Decodes every string in an answer, in place.
pub fn restore(value: &mut Value) {
    match value {
        Value::String(s) if s.contains('%') => *s = decode(s),
        Value::List(items) => items.iter_mut().for_each(restore),
        Value::Map(entries) => entries.iter_mut().for_each(|(_, v)| restore(v)),
        Value::Struct(_, fields) => fields.iter_mut().for_each(restore),
        _ => {}
    }
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match ESCAPED.iter().find(|(raw, _)| *raw == c) {
            Some((_, code)) => out.push_str(code),
            None => out.push(c),
        }
    }
    out
}

fn decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        match ESCAPED.iter().find(|(_, code)| tail.starts_with(code)) {
            Some((raw, code)) => {
                out.push(*raw);
                rest = &tail[code.len()..];
            }
            None => {
                out.push('%');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips_and_leaves_plain_strings_alone() {
        for text in ["plain", "it's", r"C:\path", "100%", "%27 literal", "é'\\%"] {
            let sent = protect(Value::List(vec![Value::String(text.into())]));
            let Value::List(items) = &sent else { panic!("a list stays a list") };
            let Value::String(wire) = &items[0] else { panic!("a string stays a string") };
            assert!(!wire.contains(['\'', '\\']), "{wire}");
            let mut back = sent.clone();
            restore(&mut back);
            assert_eq!(back, Value::List(vec![Value::String(text.into())]), "{text}");
        }
        assert_eq!(protect(Value::String("plain".into())), Value::String("plain".into()));
    }
}
