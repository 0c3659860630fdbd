//! Checks a tool call's arguments against the tool's input schema before it is planned: an
//! object, every required property present, no property the schema closes out, and each
//! property of the JSON type it declares. The subset of JSON Schema that tool schemas use for
//! their top level; the tool itself still parses its arguments when it runs.

use serde_json::Value;

/// Why `args` do not fit `schema`, if they do not.
pub fn check_args(schema: &Value, args: &Value) -> Result<(), String> {
    let Some(object) = args.as_object() else {
        return Err("the arguments must be a JSON object".into());
    };
    let properties = schema.get("properties").and_then(Value::as_object);
    let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
    for (key, value) in object {
        let Some(declared) = properties.and_then(|p| p.get(key)) else {
            if closed {
                return Err(format!("{key:?} is not an argument of this tool"));
            }
            continue;
        };
        if let Some(expected) = declared_types(declared)
            && !expected.iter().any(|t| has_type(value, t))
        {
            return Err(format!("{key:?} must be {}", expected.join(" or ")));
        }
    }
    // After the unknown ones: a misspelt `rooot` is named as itself, not as a missing `root`.
    for required in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        if !object.contains_key(required) {
            return Err(format!("{required:?} is required"));
        }
    }
    Ok(())
}

/// The JSON types a property declares (`"type": "string"` or `["string", "null"]`), if any.
fn declared_types(property: &Value) -> Option<Vec<&str>> {
    match property.get("type")? {
        Value::String(t) => Some(vec![t.as_str()]),
        Value::Array(ts) => Some(ts.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

fn has_type(value: &Value, t: &str) -> bool {
    match t {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "null" => value.is_null(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::check_args;

    #[test]
    fn arguments_are_checked_against_the_top_of_the_schema() {
        let schema = json!({
            "type": "object",
            "properties": {"path": {"type": "string"}, "limit": {"type": ["integer", "null"]}},
            "required": ["path"],
            "additionalProperties": false
        });
        assert_eq!(check_args(&schema, &json!({"path": "/tmp", "limit": 3})), Ok(()));
        assert_eq!(check_args(&schema, &json!({"path": "/tmp", "limit": null})), Ok(()));
        assert!(check_args(&schema, &json!({})).unwrap_err().contains("\"path\" is required"));
        assert!(check_args(&schema, &json!({"path": 5})).unwrap_err().contains("must be string"));
        assert!(check_args(&schema, &json!({"path": "/", "rm": true})).unwrap_err().contains("not an argument"));
        assert!(check_args(&schema, &json!("path")).unwrap_err().contains("JSON object"));
        // An open schema lets unknown arguments through to the tool.
        assert_eq!(check_args(&json!({"type": "object"}), &json!({"anything": 1})), Ok(()));
    }
}
