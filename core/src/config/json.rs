//! JSON: reading a configuration (naming the field at fault) and writing one.

use std::path::Path;

use super::validate::invalid;
use super::*;
use crate::error::DatabaseError;

/// The nested groups whose fields JSON errors are traced into.
const NESTED_GROUPS: [&str; 2] = ["security", "reliability"];

impl LightningDbConfig {
    /// Parses a configuration from JSON. Fields left out take their defaults, so `{}` is the
    /// default configuration.
    ///
    /// Malformed JSON, an unknown field or a value of the wrong type gives a
    /// [`DatabaseError::ConfigurationError`] naming the field (dotted for nested ones), or
    /// `json` when the document itself is malformed. Ranges are not checked here: call
    /// [`validate`](Self::validate), as opening a database does.
    pub fn from_json(s: &str) -> Result<Self, DatabaseError> {
        serde_json::from_str(s).map_err(|err| locate_json_error(s, &err))
    }

    /// The configuration as pretty-printed JSON, every field included. A path that is not
    /// valid UTF-8 is written lossily (invalid bytes become U+FFFD).
    pub fn to_json(&self) -> String {
        // Cannot fail: every field is plain data and the path is written lossily, so no
        // serializer error is possible.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

pub(super) fn serialize_path_lossy<S: serde::Serializer>(
    path: &Path,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&path.to_string_lossy())
}

/// Turns a serde error into a `ConfigurationError` naming the field at fault.
///
/// serde_json does not report the path of a field, so each field of the document is tried on
/// its own against the defaults: the first one that fails alone is the culprit.
fn locate_json_error(s: &str, err: &serde_json::Error) -> DatabaseError {
    if err.is_syntax() || err.is_eof() || err.is_io() {
        return invalid("json", format!("malformed JSON: {err}"));
    }
    let whole = || invalid("json", err.to_string());
    let Ok(document) = serde_json::from_str::<serde_json::Value>(s) else {
        return whole();
    };
    let Some(fields) = document.as_object() else {
        return invalid(
            "json",
            format!("expected a JSON object of configuration fields: {err}"),
        );
    };
    let Ok(defaults) = serde_json::to_value(LightningDbConfig::default()) else {
        return whole();
    };
    for (name, value) in fields {
        let Some(reason) = failure_with(&defaults, &[name], value) else {
            continue;
        };
        if NESTED_GROUPS.contains(&name.as_str()) {
            if let Some(inner) = value.as_object() {
                for (inner_name, inner_value) in inner {
                    if let Some(reason) = failure_with(&defaults, &[name, inner_name], inner_value)
                    {
                        return invalid(&format!("{name}.{inner_name}"), reason);
                    }
                }
            }
        }
        return invalid(name, reason);
    }
    whole()
}

/// The error of deserializing the defaults with the field at `path` replaced by `value`.
fn failure_with(
    defaults: &serde_json::Value,
    path: &[&String],
    value: &serde_json::Value,
) -> Option<String> {
    let mut candidate = defaults.clone();
    let mut slot = &mut candidate;
    for name in path {
        let object = slot.as_object_mut()?;
        slot = object
            .entry(name.as_str())
            .or_insert(serde_json::Value::Null);
    }
    *slot = value.clone();
    serde_json::from_value::<LightningDbConfig>(candidate)
        .err()
        .map(|e| e.to_string())
}
