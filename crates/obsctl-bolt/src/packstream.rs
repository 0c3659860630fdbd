//! PackStream, Bolt's binary value encoding: the subset of values a graph query sends and
//! returns (null, booleans, integers, floats, strings, bytes, lists, maps and structures).

use std::fmt;

/// A PackStream value. Maps keep their order so what is written reads back the same.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Map(Vec<(String, Value)>),
    /// A tagged structure: a message, or a node, relationship or temporal value in a record.
    Struct(u8, Vec<Value>),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// A field of a map value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// A map's entries from `(key, value)` pairs.
pub fn entries<const N: usize>(pairs: [(&str, Value); N]) -> Vec<(String, Value)> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Builds a map value from `(key, value)` pairs.
pub fn map<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Map(entries(pairs))
}

/// Appends the encoding of `value` to `out`.
pub fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(0xC0),
        Value::Bool(b) => out.push(if *b { 0xC3 } else { 0xC2 }),
        Value::Int(i) => encode_int(*i, out),
        Value::Float(f) => {
            out.push(0xC1);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::String(s) => {
            header(s.len(), 0x80, [0xD0, 0xD1, 0xD2], out);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Bytes(b) => {
            header(b.len(), 0xCC, [0xCC, 0xCD, 0xCE], out);
            out.extend_from_slice(b);
        }
        Value::List(items) => {
            header(items.len(), 0x90, [0xD4, 0xD5, 0xD6], out);
            items.iter().for_each(|v| encode(v, out));
        }
        Value::Map(entries) => {
            header(entries.len(), 0xA0, [0xD8, 0xD9, 0xDA], out);
            for (k, v) in entries {
                encode(&Value::String(k.clone()), out);
                encode(v, out);
            }
        }
        Value::Struct(tag, fields) => {
            out.push(0xB0 | (fields.len().min(15) as u8));
            out.push(*tag);
            fields.iter().for_each(|v| encode(v, out));
        }
    }
}

fn encode_int(i: i64, out: &mut Vec<u8>) {
    if (-16..=127).contains(&i) {
        out.push(i as u8);
    } else if let Ok(i) = i8::try_from(i) {
        out.extend_from_slice(&[0xC8, i as u8]);
    } else if let Ok(i) = i16::try_from(i) {
        out.push(0xC9);
        out.extend_from_slice(&i.to_be_bytes());
    } else if let Ok(i) = i32::try_from(i) {
        out.push(0xCA);
        out.extend_from_slice(&i.to_be_bytes());
    } else {
        out.push(0xCB);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

/// A size header: a tiny marker (`tiny | len`, below 16) when there is one, else the 8, 16 or
/// 32-bit marker followed by the length. Bytes have no tiny form (`tiny` equals its 8-bit marker).
fn header(len: usize, tiny: u8, sized: [u8; 3], out: &mut Vec<u8>) {
    if len < 16 && tiny != sized[0] {
        out.push(tiny | len as u8);
    } else if let Ok(n) = u8::try_from(len) {
        out.extend_from_slice(&[sized[0], n]);
    } else if let Ok(n) = u16::try_from(len) {
        out.push(sized[1]);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(sized[2]);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

/// How many bytes `value` encodes to.
pub fn encoded_len(value: &Value) -> usize {
    let mut out = Vec::new();
    encode(value, &mut out);
    out.len()
}

/// Input that does not decode as PackStream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad packstream: {}", self.0)
    }
}

/// Decodes one value from the front of `input`, returning it and the rest.
pub fn decode(input: &[u8]) -> Result<(Value, &[u8]), DecodeError> {
    let mut reader = Reader { input, depth: 0 };
    let value = reader.value()?;
    Ok((value, reader.input))
}

struct Reader<'a> {
    input: &'a [u8],
    depth: u32,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.input.len() < n {
            return Err(DecodeError(format!("needs {n} more bytes, has {}", self.input.len())));
        }
        let (head, rest) = self.input.split_at(n);
        self.input = rest;
        Ok(head)
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut buf = [0u8; N];
        buf.copy_from_slice(self.take(N)?);
        Ok(buf)
    }

    fn size(&mut self, width: u8) -> Result<usize, DecodeError> {
        Ok(match width {
            0 => usize::from(self.be::<1>()?[0]),
            1 => usize::from(u16::from_be_bytes(self.be()?)),
            _ => u32::from_be_bytes(self.be()?) as usize,
        })
    }

    fn value(&mut self) -> Result<Value, DecodeError> {
        self.depth += 1;
        if self.depth > 64 {
            return Err(DecodeError("nested deeper than 64".into()));
        }
        let marker = self.be::<1>()?[0];
        let value = match marker {
            0x00..=0x7F => Value::Int(i64::from(marker)),
            0xF0..=0xFF => Value::Int(i64::from(marker as i8)),
            0xC0 => Value::Null,
            0xC2 => Value::Bool(false),
            0xC3 => Value::Bool(true),
            0xC1 => Value::Float(f64::from_be_bytes(self.be()?)),
            0xC8 => Value::Int(i64::from(i8::from_be_bytes(self.be()?))),
            0xC9 => Value::Int(i64::from(i16::from_be_bytes(self.be()?))),
            0xCA => Value::Int(i64::from(i32::from_be_bytes(self.be()?))),
            0xCB => Value::Int(i64::from_be_bytes(self.be()?)),
            0x80..=0x8F => self.string(usize::from(marker & 0x0F))?,
            0xD0..=0xD2 => {
                let len = self.size(marker - 0xD0)?;
                self.string(len)?
            }
            0xCC..=0xCE => {
                let len = self.size(marker - 0xCC)?;
                Value::Bytes(self.take(len)?.to_vec())
            }
            0x90..=0x9F => self.list(usize::from(marker & 0x0F))?,
            0xD4..=0xD6 => {
                let len = self.size(marker - 0xD4)?;
                self.list(len)?
            }
            0xA0..=0xAF => self.map(usize::from(marker & 0x0F))?,
            0xD8..=0xDA => {
                let len = self.size(marker - 0xD8)?;
                self.map(len)?
            }
            0xB0..=0xBF => {
                let tag = self.be::<1>()?[0];
                let fields = (0..marker & 0x0F).map(|_| self.value()).collect::<Result<_, _>>()?;
                Value::Struct(tag, fields)
            }
            other => return Err(DecodeError(format!("unknown marker 0x{other:02X}"))),
        };
        self.depth -= 1;
        Ok(value)
    }

    fn string(&mut self, len: usize) -> Result<Value, DecodeError> {
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map(Value::String).map_err(|_| DecodeError("string is not UTF-8".into()))
    }

    fn list(&mut self, len: usize) -> Result<Value, DecodeError> {
        self.at_least(len)?;
        (0..len).map(|_| self.value()).collect::<Result<_, _>>().map(Value::List)
    }

    fn map(&mut self, len: usize) -> Result<Value, DecodeError> {
        self.at_least(len)?;
        let mut entries = Vec::with_capacity(len);
        for _ in 0..len {
            let Value::String(key) = self.value()? else {
                return Err(DecodeError("map key is not a string".into()));
            };
            entries.push((key, self.value()?));
        }
        Ok(Value::Map(entries))
    }

    /// Refuses a declared length the remaining input cannot hold (each item is at least a byte),
    /// so a hostile length cannot make us allocate.
    fn at_least(&self, len: usize) -> Result<(), DecodeError> {
        if len > self.input.len() {
            return Err(DecodeError(format!("declares {len} items, has {} bytes", self.input.len())));
        }
        Ok(())
    }
}

/// Whatever `input` decodes to encodes to bytes that decode and encode to the same bytes: the
/// property the fuzz target and the property test check. Panics when it does not hold.
#[cfg(any(test, fuzzing))]
#[allow(clippy::expect_used)] // a checker: failing loudly is its job
pub(crate) fn assert_reencodes_stably(input: &[u8]) {
    if let Ok((value, _)) = decode(input) {
        let mut once = Vec::new();
        encode(&value, &mut once);
        let (again, rest) = decode(&once).expect("what we encode decodes");
        assert!(rest.is_empty());
        let mut twice = Vec::new();
        encode(&again, &mut twice);
        assert_eq!(once, twice);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: Value) {
        let mut out = Vec::new();
        encode(&value, &mut out);
        let (back, rest) = decode(&out).unwrap();
        assert_eq!(back, value);
        assert!(rest.is_empty());
    }

    #[test]
    fn values_round_trip_at_every_size_boundary() {
        for i in [0, -1, -16, -17, 127, 128, -128, -129, 32_767, 32_768, -32_769, i64::from(i32::MAX) + 1, i64::MIN] {
            round_trip(Value::Int(i));
        }
        for len in [0, 15, 16, 255, 256, 65_536] {
            round_trip(Value::String("x".repeat(len)));
            round_trip(Value::List(vec![Value::Null; len.min(300)]));
            round_trip(Value::Bytes(vec![7; len]));
        }
        round_trip(map([("a", Value::Float(1.5)), ("b", Value::Bool(true)), ("c", Value::List(vec![1.into()]))]));
        round_trip(Value::Struct(0x4E, vec![Value::Int(1), Value::List(vec![]), Value::Map(vec![])]));
    }

    #[test]
    fn known_encodings_match_the_spec() {
        let mut out = Vec::new();
        encode(&map([("a", Value::Int(1))]), &mut out);
        assert_eq!(out, [0xA1, 0x81, b'a', 0x01]);
        out.clear();
        encode(&Value::Int(-17), &mut out);
        assert_eq!(out, [0xC8, 0xEF]);
    }

    #[test]
    fn hostile_input_is_an_error_not_a_panic_or_allocation() {
        assert!(decode(&[0xD6, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
        assert!(decode(&[0xD2, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
        assert!(decode(&[0xA1, 0x01, 0x01]).is_err());
        assert!(decode(&[0xC7]).is_err());
        assert!(decode(&[0x91; 100]).is_err());
        assert!(decode(&[]).is_err());
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::Int),
                any::<f64>().prop_filter("NaN never equals itself", |f| !f.is_nan()).prop_map(Value::Float),
                any::<String>().prop_map(Value::String),
                proptest::collection::vec(any::<u8>(), 0..300).prop_map(Value::Bytes),
            ];
            leaf.prop_recursive(4, 64, 20, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..20).prop_map(Value::List),
                    proptest::collection::vec((any::<String>(), inner.clone()), 0..20).prop_map(Value::Map),
                    (any::<u8>(), proptest::collection::vec(inner, 0..15)).prop_map(|(t, f)| Value::Struct(t, f)),
                ]
            })
        }

        proptest! {
            #[test]
            fn every_value_round_trips(v in value()) {
                let mut out = Vec::new();
                encode(&v, &mut out);
                prop_assert_eq!(out.len(), encoded_len(&v));
                let (back, rest) = decode(&out).expect("decodes");
                prop_assert!(rest.is_empty());
                prop_assert_eq!(back, v);
            }

            #[test]
            fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                assert_reencodes_stably(&bytes);
            }
        }
    }
}
