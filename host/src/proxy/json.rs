//! Go `encoding/json`-like decoding helpers: case-insensitive keys, first value only.

use serde_json::{Map, Value};

use super::ProxyError;

/// Parses the first JSON value of a request body, ignoring anything after it, like Go's decoder.
pub(crate) fn first_value(body: &[u8]) -> Result<Value, ProxyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ProxyError::BadRequestBody("EOF".into()));
    }
    let mut values = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
    match values.next() {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(ProxyError::BadRequestBody(e.to_string())),
        None => Err(ProxyError::BadRequestBody("EOF".into())),
    }
}

/// Looks a key up the way Go does: an exact match first, then a case-insensitive one.
pub(crate) fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// Reads an optional string field; `null` counts as absent.
pub(crate) fn opt_str(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, ProxyError> {
    match get_ci(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(type_error(other, key, "string")),
    }
}

/// Reads an optional boolean field; `null` counts as absent.
pub(crate) fn opt_bool(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, ProxyError> {
    match get_ci(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(type_error(other, key, "bool")),
    }
}

/// Reads an optional float field; `null` counts as absent.
pub(crate) fn opt_f64(obj: &Map<String, Value>, key: &str) -> Result<Option<f64>, ProxyError> {
    match get_ci(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(other) => Err(type_error(other, key, "float32")),
    }
}

/// Reads an optional integer field; like Go's int64 fields, `1.5` and `"100"` are refused.
pub(crate) fn opt_i64(obj: &Map<String, Value>, key: &str) -> Result<Option<i64>, ProxyError> {
    match get_ci(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => Ok(Some(i)),
            None => Err(type_error(&Value::Number(n.clone()), key, "int64")),
        },
        Some(other) => Err(type_error(other, key, "int64")),
    }
}

/// Reads an object field; `null` or absence gives an empty object.
pub(crate) fn opt_object(obj: &Map<String, Value>, key: &str) -> Result<Option<Map<String, Value>>, ProxyError> {
    match get_ci(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m.clone())),
        Some(other) => Err(type_error(other, key, "object")),
    }
}

/// The body must be a JSON object.
pub(crate) fn as_object(v: &Value) -> Result<&Map<String, Value>, ProxyError> {
    match v {
        Value::Object(m) => Ok(m),
        other => Err(ProxyError::BadRequestBody(format!("json: cannot unmarshal {} into a JSON object", kind(other)))),
    }
}

fn type_error(v: &Value, key: &str, want: &str) -> ProxyError {
    let shown = match v {
        Value::Number(n) => format!("number {n}"),
        other => kind(other).to_owned(),
    };
    ProxyError::BadRequestBody(format!("json: cannot unmarshal {shown} into field `{key}` of type {want}"))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_match_case_insensitively_with_exact_match_first() {
        let v = json!({"NAME": "a", "name": "b", "Upstream": "u"});
        let m = v.as_object().unwrap();
        assert_eq!(opt_str(m, "name").unwrap().as_deref(), Some("b"));
        assert_eq!(opt_str(m, "upstream").unwrap().as_deref(), Some("u"));
    }

    #[test]
    fn only_the_first_value_is_read_and_empty_is_eof() {
        assert_eq!(first_value(b"{\"a\":1} trailing garbage").unwrap(), json!({"a":1}));
        assert_eq!(first_value(b"  ").unwrap_err().to_string(), "bad request body: EOF");
    }

    #[test]
    fn integers_refuse_floats_and_strings() {
        let v = json!({"latency": 1.5, "jitter": "100"});
        let m = v.as_object().unwrap();
        assert!(opt_i64(m, "latency").unwrap_err().to_string().contains("number 1.5"));
        assert!(opt_i64(m, "jitter").unwrap_err().to_string().contains("string"));
    }
}
