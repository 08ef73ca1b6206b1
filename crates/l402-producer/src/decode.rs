//! Strict request decoding: a JSON object, known keys only, each field of the
//! right type and within bounds; every refusal names the field.

use serde_json::{Map, Value};

use super::error::ApiError;

/// The largest request body read, in bytes; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A decoded JSON object whose keys were checked.
#[derive(Debug)]
pub(crate) struct Fields {
    map: Map<String, Value>,
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Fields {
    /// Parses `body` as a JSON object with only `allowed` keys.
    pub(crate) fn parse(body: &[u8], allowed: &[&str]) -> Result<Self, ApiError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::field(
                "malformed_json",
                "(body)",
                format!("the request body is not valid JSON: {e}"),
            )
        })?;
        let Value::Object(map) = value else {
            return Err(ApiError::field(
                "malformed_json",
                "(body)",
                format!(
                    "the request body must be a JSON object, not {}",
                    type_name(&value)
                ),
            ));
        };
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            let shown: String = unknown.chars().take(64).collect();
            return Err(ApiError::field(
                "unknown_field",
                &shown,
                format!(
                    "unknown field {shown:?}; expected {}",
                    allowed
                        .iter()
                        .map(|a| format!("{a:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        Ok(Fields { map })
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    /// A string field of at most `max_chars` characters, with no control
    /// characters; `None` when absent or null.
    pub(crate) fn opt_string(
        &self,
        name: &str,
        max_chars: usize,
    ) -> Result<Option<&str>, ApiError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        let Value::String(s) = value else {
            return Err(ApiError::field(
                "invalid_field",
                name,
                format!("{name} must be a string, not {}", type_name(value)),
            ));
        };
        if s.chars().count() > max_chars {
            return Err(ApiError::field(
                "invalid_field",
                name,
                format!("{name} is longer than {max_chars} characters"),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(ApiError::field(
                "invalid_field",
                name,
                format!("{name} must not contain control characters"),
            ));
        }
        Ok(Some(s))
    }

    /// A required, non-empty string field.
    pub(crate) fn string(&self, name: &str, max_chars: usize) -> Result<&str, ApiError> {
        match self.opt_string(name, max_chars)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            Some(_) => Err(ApiError::field(
                "invalid_field",
                name,
                format!("{name} must not be empty"),
            )),
            None => Err(ApiError::field(
                "missing_field",
                name,
                format!("{name} is required"),
            )),
        }
    }

    /// An integer field within `min..=max`; `None` when absent or null.
    pub(crate) fn opt_integer(
        &self,
        name: &str,
        min: u64,
        max: u64,
    ) -> Result<Option<u64>, ApiError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        let range = || format!("{name} must be a whole number from {min} to {max}");
        let Value::Number(n) = value else {
            return Err(ApiError::field(
                "invalid_field",
                name,
                format!("{}, not {}", range(), type_name(value)),
            ));
        };
        let n = n
            .as_u64()
            .or_else(|| {
                // 100.0 is a whole number too (some clients send floats).
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= max as f64)
                    .map(|f| f as u64)
            })
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                ApiError::field("invalid_field", name, format!("{}, not {n}", range()))
            })?;
        Ok(Some(n))
    }

    /// A required integer field within `min..=max`.
    pub(crate) fn integer(&self, name: &str, min: u64, max: u64) -> Result<u64, ApiError> {
        self.opt_integer(name, min, max)?
            .ok_or_else(|| ApiError::field("missing_field", name, format!("{name} is required")))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_field() {
        let e = Fields::parse(b"{", &["a"]).unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("malformed_json", Some("(body)"))
        );
        let e = Fields::parse(b"[1]", &["a"]).unwrap_err();
        assert_eq!(e.code, "malformed_json");
        let e = Fields::parse(br#"{"a":1,"zz":2}"#, &["a"]).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), ("unknown_field", Some("zz")));
        let f = Fields::parse(
            br#"{"s":5,"n":"x","m":-1,"f":1.5,"g":2.0,"e":""}"#,
            &["s", "n", "m", "f", "g", "e"],
        )
        .unwrap();
        assert_eq!(f.string("s", 10).unwrap_err().field.as_deref(), Some("s"));
        assert_eq!(f.string("e", 10).unwrap_err().field.as_deref(), Some("e"));
        assert_eq!(f.string("absent", 10).unwrap_err().code, "missing_field");
        assert_eq!(
            f.integer("n", 1, 10).unwrap_err().field.as_deref(),
            Some("n")
        );
        assert_eq!(
            f.integer("m", 1, 10).unwrap_err().field.as_deref(),
            Some("m")
        );
        assert_eq!(
            f.integer("f", 1, 10).unwrap_err().field.as_deref(),
            Some("f")
        );
        assert_eq!(f.integer("g", 1, 10).unwrap(), 2);
    }
}
