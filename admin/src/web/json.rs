//! CommuniGate data objects ([`Value`]) as JSON, both ways.
//!
//! Strings, numbers, arrays and dictionaries map one to one. JSON has no
//! dates, IP addresses or data blocks, so those leave as strings: a date as
//! `YYYY-MM-DDTHH:MM:SS`, an address as written in CommuniGate text
//! (`[10.0.0.1]:25`), a data block as base64. Coming in, `true`/`false`
//! become CommuniGate's `YES`/`NO`, and a non-integer number its decimal
//! text, since CommuniGate numbers are integers.

use base64::Engine;
use serde_json::Value as Json;

use crate::data::{Dict, Value};

/// A data object as JSON.
pub fn to_json(value: &Value) -> Json {
    match value {
        Value::String(s) => Json::String(s.clone()),
        Value::Number(n) => Json::from(*n),
        Value::Date(d) => Json::String(d.format("%Y-%m-%dT%H:%M:%S").to_string()),
        Value::Ip(ip) => Json::String(ip.clone()),
        Value::Data(bytes) => Json::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Dict(dict) => {
            Json::Object(dict.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
        Value::Null => Json::Null,
    }
}

/// JSON as a data object.
pub fn from_json(json: &Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(true) => Value::string("YES"),
        Json::Bool(false) => Value::string("NO"),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Number(i),
            None => Value::String(n.to_string()),
        },
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::Array(items.iter().map(from_json).collect()),
        Json::Object(map) => Value::Dict(from_json_object(map)),
    }
}

/// A JSON object as a dictionary.
pub fn from_json_object(map: &serde_json::Map<String, Json>) -> Dict {
    map.iter().map(|(k, v)| (k.clone(), from_json(v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_and_containers_round_trip() {
        let j = json!({"RealName": "Pat Q", "MaxAccountSize": 10, "Aliases": ["a", "b"],
                       "Nested": {"x": null}});
        assert_eq!(to_json(&from_json(&j)), j);
    }

    #[test]
    fn cgp_only_types_become_strings() {
        let date = chrono::NaiveDate::from_ymd_opt(2024, 3, 1)
            .and_then(|d| d.and_hms_opt(12, 30, 0))
            .expect("valid date");
        assert_eq!(to_json(&Value::Date(date)), json!("2024-03-01T12:30:00"));
        assert_eq!(
            to_json(&Value::ip("10.0.0.1", Some(25))),
            json!("[10.0.0.1]:25")
        );
        assert_eq!(to_json(&Value::Data(b"hi".to_vec())), json!("aGk="));
    }

    #[test]
    fn json_only_types_become_cgp_text() {
        assert_eq!(from_json(&json!(true)), Value::string("YES"));
        assert_eq!(from_json(&json!(false)), Value::string("NO"));
        assert_eq!(from_json(&json!(1.5)), Value::string("1.5"));
    }
}
