//! Conversions between JavaScript values and what the engine takes: key and value bytes,
//! open options, range bounds, and plain objects built from the engine's reports.

use std::borrow::Cow;
use std::ops::Bound;

use lightning_db::{DatabaseError, LightningDbConfig};
use napi::bindgen_prelude::*;
use serde_json::{Map, Number, Value};

use crate::errors::type_error;

/// A key or value as JavaScript passes it: a `Uint8Array` (so also a `Buffer`), a string
/// (stored as UTF-8), or anything else, which is refused with a `TypeError`.
pub(crate) type BytesArg<'a> = Either3<&'a [u8], String, Unknown<'a>>;

/// The bytes of a key or value argument, borrowed when JavaScript holds them as bytes.
pub(crate) fn bytes<'a>(env: &Env, arg: &'a BytesArg<'_>, what: &str) -> Result<Cow<'a, [u8]>> {
    match arg {
        Either3::A(b) => Ok(Cow::Borrowed(b)),
        Either3::B(s) => Ok(Cow::Borrowed(s.as_bytes())),
        Either3::C(other) => {
            let kind = other
                .get_type()
                .map(|t| format!("{t:?}").to_lowercase())
                .unwrap_or_else(|_| "unknown".to_string());
            Err(type_error(
                env,
                format!("{what} must be a Buffer, Uint8Array or string, got {kind}"),
            ))
        }
    }
}

/// Like [`bytes`], copied out so it can travel to a thread-pool task.
pub(crate) fn owned(env: &Env, arg: &BytesArg<'_>, what: &str) -> Result<Vec<u8>> {
    bytes(env, arg, what).map(Cow::into_owned)
}

/// The options of `new Database(path, options)`. Field names are the engine's
/// `LightningDbConfig` fields in camelCase; validation is the engine's.
const TOP_LEVEL: &[(&str, &str)] = &[
    ("cacheSize", "cache_size"),
    ("writeBufferSize", "write_buffer_size"),
    ("compressionEnabled", "compression_enabled"),
    ("maxKeySize", "max_key_size"),
    ("maxValueSize", "max_value_size"),
    ("checksumAlgorithm", "checksum_algorithm"),
    ("blockSize", "block_size"),
    ("bloomBitsPerKey", "bloom_bits_per_key"),
    ("memtableIndexMinVersions", "memtable_index_min_versions"),
    ("integrityValidationLevel", "integrity_validation_level"),
    ("enableAuditLogging", "enable_audit_logging"),
    ("failOnCorruption", "fail_on_corruption"),
    ("enableHealthMonitoring", "enable_health_monitoring"),
    ("enableSelfHealing", "enable_self_healing"),
    ("deadlockPreventionEnabled", "deadlock_prevention_enabled"),
    ("circuitBreakerEnabled", "circuit_breaker_enabled"),
    ("enableStatistics", "enable_statistics"),
    ("mmapReads", "mmap_reads"),
    ("upgradeFormatOnOpen", "upgrade_format_on_open"),
    ("security", "security"),
    ("reliability", "reliability"),
];

/// Fields whose values are engine enum variants: JavaScript passes them in lower case
/// (`'xxh64'`, `'paranoid'`), the engine's JSON names them capitalised (`Xxh64`, `Paranoid`).
const ENUM_FIELDS: &[&str] = &[
    "checksum_algorithm",
    "integrity_validation_level",
    "validation_level",
    "corruption_action",
    "audit_level",
];

/// The sync interval the C ABI also uses when `periodic` is chosen without one.
const DEFAULT_SYNC_INTERVAL_MS: u64 = 100;

fn config_error(field: &str, reason: impl Into<String>) -> DatabaseError {
    DatabaseError::ConfigurationError {
        field: field.to_string(),
        reason: reason.into(),
    }
}

fn camel_to_snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn snake_to_camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `'xxh64'` → `"Xxh64"`; anything else is left for the engine to refuse, naming the field.
fn variant_name(value: Value) -> Value {
    match value {
        Value::String(s) => {
            let mut chars = s.chars();
            let name = match chars.next() {
                Some(first) => {
                    first.to_ascii_uppercase().to_string() + &chars.as_str().to_lowercase()
                }
                None => String::new(),
            };
            Value::String(name)
        }
        other => other,
    }
}

/// Renames the keys of a nested section (`security`, `reliability`) to the engine's names.
fn nested(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let snake = camel_to_snake(&k);
                    let v = if ENUM_FIELDS.contains(&snake.as_str()) {
                        variant_name(v)
                    } else {
                        v
                    };
                    (snake, v)
                })
                .collect(),
        ),
        // Left as is: the engine refuses it as a wrongly typed `security`/`reliability`.
        other => other,
    }
}

/// Builds the engine configuration from the JavaScript options object (already converted to
/// JSON). Unknown options and wrong types are `ConfigurationError`s naming the option.
pub(crate) fn config_from_options(
    options: Option<Value>,
) -> std::result::Result<LightningDbConfig, DatabaseError> {
    let map = match options {
        None | Some(Value::Null) => return Ok(LightningDbConfig::default()),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(config_error("options", "must be an object")),
    };
    let mut out = Map::new();
    let mut durability: Option<String> = None;
    let mut interval: Option<u64> = None;
    for (key, value) in map {
        match key.as_str() {
            "durability" => match value {
                Value::String(s) => durability = Some(s),
                _ => {
                    return Err(config_error(
                        "durability",
                        "must be 'sync', 'periodic' or 'none'",
                    ))
                }
            },
            "syncIntervalMs" => match value.as_u64() {
                Some(ms) => interval = Some(ms),
                None => {
                    return Err(config_error(
                        "syncIntervalMs",
                        "must be a whole number of milliseconds",
                    ))
                }
            },
            _ => {
                let Some((_, snake)) = TOP_LEVEL.iter().find(|(camel, _)| *camel == key) else {
                    return Err(config_error(&key, "unknown option"));
                };
                let value = if ENUM_FIELDS.contains(snake) {
                    variant_name(value)
                } else if *snake == "security" || *snake == "reliability" {
                    nested(value)
                } else {
                    value
                };
                out.insert((*snake).to_string(), value);
            }
        }
    }
    let durability = match (durability.as_deref(), interval) {
        (None | Some("sync"), None) => Value::String("Sync".into()),
        (Some("none"), None) => Value::String("NoSync".into()),
        (Some("periodic"), ms) => {
            let mut m = Map::new();
            m.insert(
                "Periodic".into(),
                Value::from(ms.unwrap_or(DEFAULT_SYNC_INTERVAL_MS)),
            );
            Value::Object(m)
        }
        (None | Some("sync") | Some("none"), Some(_)) => {
            return Err(config_error(
                "syncIntervalMs",
                "only applies with durability 'periodic'",
            ))
        }
        (Some(other), _) => {
            return Err(config_error(
                "durability",
                format!("'{other}' is not one of 'sync', 'periodic' or 'none'"),
            ))
        }
    };
    out.insert("durability".into(), durability);
    LightningDbConfig::from_json(&Value::Object(out).to_string()).map_err(js_field_names)
}

/// Renames the field of a `ConfigurationError` to the option name JavaScript used
/// (`cache_size` → `cacheSize`, `security.corruption_action` → `security.corruptionAction`).
pub(crate) fn js_field_names(e: DatabaseError) -> DatabaseError {
    match e {
        DatabaseError::ConfigurationError { field, reason } => DatabaseError::ConfigurationError {
            field: field
                .split('.')
                .map(snake_to_camel)
                .collect::<Vec<_>>()
                .join("."),
            reason,
        },
        other => other,
    }
}

/// The range options of `iterator(options)` in the abstract-level style, passed positionally
/// by the JS layer (reading seven properties of an object from native code costs more than
/// the JIT-compiled destructuring does).
pub struct RangeArgs<'a> {
    /// Keys strictly greater than this.
    pub gt: Option<BytesArg<'a>>,
    /// Keys greater than or equal to this.
    pub gte: Option<BytesArg<'a>>,
    /// Keys strictly less than this.
    pub lt: Option<BytesArg<'a>>,
    /// Keys less than or equal to this.
    pub lte: Option<BytesArg<'a>>,
    /// Only keys starting with this.
    pub prefix: Option<BytesArg<'a>>,
    /// Walk from the last key down.
    pub reverse: Option<bool>,
    /// At most this many pairs; negative or `Infinity` means no limit.
    pub limit: Option<Either<f64, Unknown<'a>>>,
}

/// Resolved range: bounds, direction and limit.
pub(crate) struct Range {
    pub lower: Bound<Vec<u8>>,
    pub upper: Bound<Vec<u8>>,
    pub reverse: bool,
    pub limit: Option<u64>,
}

/// The smallest key above every key starting with `prefix` (`None`: no such key).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last != 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn tighter_lower(a: Bound<Vec<u8>>, b: Bound<Vec<u8>>) -> Bound<Vec<u8>> {
    use Bound::*;
    match (&a, &b) {
        (Unbounded, _) => b,
        (_, Unbounded) => a,
        (Included(x) | Excluded(x), Included(y) | Excluded(y)) => {
            if x > y || (x == y && matches!(a, Excluded(_))) {
                a
            } else {
                b
            }
        }
    }
}

fn tighter_upper(a: Bound<Vec<u8>>, b: Bound<Vec<u8>>) -> Bound<Vec<u8>> {
    use Bound::*;
    match (&a, &b) {
        (Unbounded, _) => b,
        (_, Unbounded) => a,
        (Included(x) | Excluded(x), Included(y) | Excluded(y)) => {
            if x < y || (x == y && matches!(a, Excluded(_))) {
                a
            } else {
                b
            }
        }
    }
}

/// Resolves range options: `gt` wins over `gte` and `lt` over `lte` when both are given (as in
/// abstract-level), and `prefix` narrows whatever bounds are given.
pub(crate) fn range(env: &Env, o: RangeArgs<'_>) -> Result<Range> {
    let own = |v: &BytesArg<'_>, what: &str| owned(env, v, what);
    let mut lower = match (&o.gt, &o.gte) {
        (Some(k), _) => Bound::Excluded(own(k, "gt")?),
        (None, Some(k)) => Bound::Included(own(k, "gte")?),
        (None, None) => Bound::Unbounded,
    };
    let mut upper = match (&o.lt, &o.lte) {
        (Some(k), _) => Bound::Excluded(own(k, "lt")?),
        (None, Some(k)) => Bound::Included(own(k, "lte")?),
        (None, None) => Bound::Unbounded,
    };
    if let Some(p) = &o.prefix {
        let p = own(p, "prefix")?;
        let end = prefix_end(&p).map_or(Bound::Unbounded, Bound::Excluded);
        lower = tighter_lower(lower, Bound::Included(p));
        upper = tighter_upper(upper, end);
    }
    let limit = match o.limit {
        Some(Either::A(l)) if l.is_nan() => {
            return Err(type_error(env, "range option 'limit' must be a number"))
        }
        Some(Either::B(_)) => return Err(type_error(env, "range option 'limit' must be a number")),
        Some(Either::A(l)) if l >= 0.0 && l.is_finite() => Some(l as u64),
        _ => None,
    };
    Ok(Range {
        lower,
        upper,
        reverse: o.reverse.unwrap_or(false),
        limit,
    })
}

/// The engine's JSON reports as plain JavaScript objects: keys in camelCase, and every number
/// a JavaScript number (napi would turn integers above 2^32 into BigInt otherwise, giving one
/// field two types depending on its size).
pub(crate) fn report_to_js(env: &Env, json: &str) -> Result<Unknown<'static>> {
    let value: Value = serde_json::from_str(json)
        .map_err(|e| Error::from_reason(format!("engine report is not JSON: {e}")))?;
    let value = js_shape(value);
    let unknown = env.to_js_value(&value)?;
    Ok(unknown)
}

/// A monitoring report (`PerformanceMetrics`, `HealthReport`) as a plain JavaScript object:
/// as [`report_to_js`], with every duration (`{"secs", "nanos"}`) a number of milliseconds
/// and every instant (`{"secs_since_epoch", "nanos_since_epoch"}`) milliseconds since the
/// Unix epoch (as `Date.now()`).
pub(crate) fn monitor_report_to_js(env: &Env, json: &str) -> Result<Unknown<'static>> {
    let value: Value = serde_json::from_str(json)
        .map_err(|e| Error::from_reason(format!("engine report is not JSON: {e}")))?;
    let value = js_shape(in_milliseconds(value));
    let unknown = env.to_js_value(&value)?;
    Ok(unknown)
}

/// Durations and instants as milliseconds (see [`monitor_report_to_js`]).
fn in_milliseconds(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            if map.len() == 2 {
                for (s_name, n_name) in
                    [("secs", "nanos"), ("secs_since_epoch", "nanos_since_epoch")]
                {
                    if let (Some(secs), Some(nanos)) = (
                        map.get(s_name).and_then(Value::as_u64),
                        map.get(n_name).and_then(Value::as_u64),
                    ) {
                        let ms = secs as f64 * 1e3 + nanos as f64 / 1e6;
                        return Number::from_f64(ms).map_or(Value::Null, Value::Number);
                    }
                }
            }
            Value::Object(
                map.into_iter()
                    .map(|(k, v)| (k, in_milliseconds(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(in_milliseconds).collect()),
        other => other,
    }
}

/// See [`report_to_js`].
pub(crate) fn js_shape(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (snake_to_camel(&k), js_shape(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(js_shape).collect()),
        Value::Number(n) => n
            .as_f64()
            .and_then(Number::from_f64)
            .map_or(Value::Null, Value::Number),
        other => other,
    }
}
