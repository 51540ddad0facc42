//! Bounds on the metadata of one change, checked wherever a change enters the gateway
//! (`POST …/metadata` today; the SQS consumer can call the same [`MetadataLimits::check`]).
//! Pure: no I/O, no HTTP, so the policy is tested here and each transport maps
//! [`LimitError`] to its own answer.

use serde_json::Value;
use shared_types::Metadata;

use crate::config::Config;

/// What one change's `metadata` may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataLimits {
    /// Most keys in one change.
    pub max_keys: usize,
    /// Deepest nesting of one value: a scalar is depth 1, `{"a": 1}` and `[1]` depth 2.
    pub max_depth: u32,
    /// Largest value, in bytes of its compact JSON.
    pub max_value_bytes: usize,
}

impl MetadataLimits {
    pub fn from_config(config: &Config) -> Self {
        Self {
            max_keys: config.max_metadata_keys,
            max_depth: config.max_metadata_depth,
            max_value_bytes: config.max_metadata_value_bytes,
        }
    }

    /// Checks every bound; the first one broken is the answer.
    pub fn check(&self, metadata: &Metadata) -> Result<(), LimitError> {
        if metadata.len() > self.max_keys {
            return Err(LimitError::TooManyKeys {
                max: self.max_keys,
                actual: metadata.len(),
            });
        }
        for (key, value) in metadata {
            if depth(value) > self.max_depth {
                return Err(LimitError::TooDeep {
                    key: shortened(key),
                    max: self.max_depth,
                });
            }
            let bytes = json_len(value);
            if bytes > self.max_value_bytes {
                return Err(LimitError::ValueTooLarge {
                    key: shortened(key),
                    max: self.max_value_bytes,
                    actual: bytes,
                });
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("metadata has {actual} keys; at most {max} are accepted per change")]
    TooManyKeys { max: usize, actual: usize },
    #[error("metadata value {key:?} is nested deeper than {max} levels")]
    TooDeep { key: String, max: u32 },
    #[error("metadata value {key:?} is {actual} bytes of JSON; at most {max} are accepted")]
    ValueTooLarge {
        key: String,
        max: usize,
        actual: usize,
    },
}

impl LimitError {
    /// Stable machine-readable code, as the HTTP error body carries it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooManyKeys { .. } => "metadata_too_many_keys",
            Self::TooDeep { .. } => "metadata_too_deep",
            Self::ValueTooLarge { .. } => "metadata_value_too_large",
        }
    }
}

/// Nesting depth without recursion, so no value can exhaust the stack here.
fn depth(value: &Value) -> u32 {
    let mut deepest = 0;
    let mut pending = vec![(value, 1u32)];
    while let Some((value, level)) = pending.pop() {
        deepest = deepest.max(level);
        match value {
            Value::Array(items) => pending.extend(items.iter().map(|v| (v, level + 1))),
            Value::Object(fields) => pending.extend(fields.values().map(|v| (v, level + 1))),
            _ => {}
        }
    }
    deepest
}

/// Length of the compact JSON of `value`, counted without building the string.
fn json_len(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a `Value` to a writer that never fails cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// A key as error messages quote it: at most 64 characters.
fn shortened(key: &str) -> String {
    key.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LIMITS: MetadataLimits = MetadataLimits {
        max_keys: 3,
        max_depth: 3,
        max_value_bytes: 16,
    };

    fn metadata(value: Value) -> Metadata {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn values_within_every_bound_pass() {
        let ok = metadata(json!({"a": 1, "b": {"c": [1]}, "d": "0123456789abcd"}));
        assert_eq!(LIMITS.check(&ok), Ok(()));
        assert_eq!(LIMITS.check(&Metadata::new()), Ok(()));
    }

    #[test]
    fn one_key_too_many_is_refused() {
        let err = LIMITS
            .check(&metadata(json!({"a": 1, "b": 2, "c": 3, "d": 4})))
            .unwrap_err();
        assert_eq!(err, LimitError::TooManyKeys { max: 3, actual: 4 });
        assert_eq!(err.code(), "metadata_too_many_keys");
    }

    #[test]
    fn depth_counts_objects_and_arrays() {
        assert_eq!(depth(&json!(1)), 1);
        assert_eq!(depth(&json!({})), 1);
        assert_eq!(depth(&json!([[1]])), 3);
        assert_eq!(depth(&json!({"a": [1, {"b": {"c": null}}]})), 5);
        let err = LIMITS
            .check(&metadata(json!({"ok": 1, "deep": [[[1]]]})))
            .unwrap_err();
        assert_eq!(
            err,
            LimitError::TooDeep {
                key: "deep".into(),
                max: 3
            }
        );
        assert_eq!(err.code(), "metadata_too_deep");
    }

    #[test]
    fn depth_of_a_very_deep_value_does_not_overflow_the_stack() {
        let mut value = json!(1);
        for _ in 0..100_000 {
            value = Value::Array(vec![value]);
        }
        assert_eq!(depth(&value), 100_001);
        // serde_json's recursive drop would overflow on this value; unwind it iteratively.
        let mut value = value;
        while let Value::Array(mut items) = value {
            value = items.pop().unwrap_or(Value::Null);
        }
    }

    #[test]
    fn value_size_is_its_compact_json() {
        assert_eq!(json_len(&json!("é")), 4); // quotes + two UTF-8 bytes
        assert_eq!(json_len(&json!({"a": [1, 2]})), r#"{"a":[1,2]}"#.len());
        let err = LIMITS
            .check(&metadata(json!({"big": "0123456789abcdef"})))
            .unwrap_err();
        assert_eq!(
            err,
            LimitError::ValueTooLarge {
                key: "big".into(),
                max: 16,
                actual: 18
            }
        );
        assert_eq!(err.code(), "metadata_value_too_large");
    }
}
