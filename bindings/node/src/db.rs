//! The `Database` class.

use std::sync::{Arc, Weak};

use lightning_db::{
    Database as CoreDb, DatabaseError, TransactionMode, TransactionOptions, ValidationLevel,
};
use napi::bindgen_prelude::*;
use napi::ScopedTask;
use napi_derive::napi;

use crate::convert::{
    bytes, config_from_options, js_field_names, owned, range, BytesArg, RangeArgs,
};
use crate::errors::{run, to_js, type_error};
use crate::events::{EventSink, OnEvent};
use crate::iter::{NativeIterator, Source};
use crate::shared::{QueuedOp, Shared};
use crate::snapshot::Snapshot;
use crate::tasks::{buffer, DbTask, MonitorReport, Report, WriteTask};
use crate::txn::Transaction;

/// The values of `getMany`, in order (`None`: missing).
type Values = Vec<Option<Vec<u8>>>;

/// Options of `db.beginTransaction(options)`.
#[napi(object, object_to_js = false, js_name = "TransactionOptions")]
pub struct TransactionOptionsArg {
    /// Lock every key read or written (waiting for other pessimistic transactions) instead of
    /// detecting conflicts only at commit.
    pub pessimistic: Option<bool>,
    /// How long a pessimistic transaction waits for a key lock, in milliseconds (default 5000).
    pub lock_timeout_ms: Option<u32>,
}

/// An open Lightning DB database.
#[napi]
pub struct Database {
    shared: Arc<Shared>,
    location: String,
}

/// What the options object of `new Database` / `Database.open` holds: the engine
/// configuration (or the `ConfigurationError` refusing it) and the `onEvent` function (or,
/// when it is not a function, the `TypeError` message).
struct Options<'a> {
    config: std::result::Result<lightning_db::LightningDbConfig, DatabaseError>,
    on_event: OnEventOption<'a>,
}

/// `options.onEvent`: the function, none, or the `TypeError` message refusing it.
type OnEventOption<'a> = std::result::Result<Option<OnEvent<'a>>, String>;

/// Splits `options` into the engine configuration and `onEvent`.
fn read_options(options: Option<Unknown<'_>>) -> Options<'_> {
    let refuse = |reason: String| DatabaseError::ConfigurationError {
        field: "options".into(),
        reason,
    };
    let (json, on_event, key) = match options {
        None => (Ok(None), Ok(None), Ok(None)),
        Some(o) => match o.get_type() {
            Err(e) => (Err(refuse(e.reason.clone())), Ok(None), Ok(None)),
            Ok(ValueType::Undefined | ValueType::Null) => (Ok(None), Ok(None), Ok(None)),
            Ok(ValueType::Object) => match options_json(o) {
                Ok((json, on_event, key)) => (Ok(Some(json)), on_event, key),
                Err(e) => (Err(refuse(e.reason.clone())), Ok(None), Ok(None)),
            },
            Ok(other) => (
                Err(refuse(format!("must be an object, got {other:?}"))),
                Ok(None),
                Ok(None),
            ),
        },
    };
    Options {
        config: json
            .and_then(config_from_options)
            .and_then(|config| with_encryption_key(config, key)),
        on_event,
    }
}

/// `options.encryptionKey`: its bytes, none, or the `ConfigurationError` refusing it.
type KeyOption = std::result::Result<Option<Vec<u8>>, DatabaseError>;

/// Turns encryption at rest on with `key` (32 bytes: `InvalidKeyMaterial` otherwise). The
/// key never goes through the JSON the other options take.
fn with_encryption_key(
    mut config: lightning_db::LightningDbConfig,
    key: KeyOption,
) -> std::result::Result<lightning_db::LightningDbConfig, DatabaseError> {
    if let Some(bytes) = key? {
        let key = lightning_db::EncryptionKey::from_slice(&bytes);
        // The copy of the key held here is wiped before it is dropped.
        let mut bytes = bytes;
        bytes.iter_mut().for_each(|b| *b = 0);
        config.security.enable_encryption = true;
        config.security.encryption_key = Some(key?);
    }
    Ok(config)
}

/// Reads `options.encryptionKey`: a Buffer or Uint8Array (`undefined` and `null`: none).
fn encryption_key_option(obj: &Object<'_>) -> Result<KeyOption> {
    let refuse = |reason: String| {
        Err(DatabaseError::ConfigurationError {
            field: "encryptionKey".into(),
            reason,
        })
    };
    if !obj.has_named_property("encryptionKey")? {
        return Ok(Ok(None));
    }
    Ok(
        match obj
            .get_named_property::<Unknown>("encryptionKey")?
            .get_type()?
        {
            ValueType::Undefined | ValueType::Null => Ok(None),
            ValueType::Object => match obj.get_named_property::<Uint8Array>("encryptionKey") {
                Ok(a) => Ok(Some(a.to_vec())),
                Err(_) => refuse("must be a Buffer or Uint8Array of 32 bytes".into()),
            },
            other => refuse(format!(
                "must be a Buffer or Uint8Array of 32 bytes, got {}",
                format!("{other:?}").to_lowercase()
            )),
        },
    )
}

/// The options object as JSON without `onEvent` (a function, which JSON cannot hold) and
/// `encryptionKey` (bytes, kept out of JSON), `onEvent` itself (`undefined` and `null` mean
/// none) and the key.
fn options_json(o: Unknown<'_>) -> Result<(serde_json::Value, OnEventOption<'_>, KeyOption)> {
    let env = Env::from(o.value().env);
    let obj = o.coerce_to_object()?;
    let key = encryption_key_option(&obj)?;
    if !obj.has_named_property("onEvent")? && !obj.has_named_property("encryptionKey")? {
        return Ok((env.from_js_value(o)?, Ok(None), key));
    }
    if !obj.has_named_property("onEvent")? {
        let names = obj.get_property_names()?;
        let mut map = serde_json::Map::new();
        for i in 0..names.get_array_length()? {
            let name: String = names.get_element(i)?;
            if name != "encryptionKey" {
                let value: Unknown = obj.get_named_property(&name)?;
                map.insert(name, env.from_js_value(value)?);
            }
        }
        return Ok((serde_json::Value::Object(map), Ok(None), key));
    }
    let on_event = match obj.get_named_property::<Unknown>("onEvent")?.get_type()? {
        ValueType::Undefined | ValueType::Null => Ok(None),
        ValueType::Function => Ok(Some(obj.get_named_property::<OnEvent<'_>>("onEvent")?)),
        other => Err(format!(
            "options.onEvent must be a function, got {}",
            format!("{other:?}").to_lowercase()
        )),
    };
    let names = obj.get_property_names()?;
    let mut map = serde_json::Map::new();
    for i in 0..names.get_array_length()? {
        let name: String = names.get_element(i)?;
        if name != "onEvent" && name != "encryptionKey" {
            let value: Unknown = obj.get_named_property(&name)?;
            map.insert(name, env.from_js_value(value)?);
        }
    }
    Ok((serde_json::Value::Object(map), on_event, key))
}

/// The listener for `onEvent` (on the JS thread).
fn event_sink(on_event: Option<OnEvent<'_>>) -> Result<Option<std::sync::Arc<EventSink>>> {
    on_event.as_ref().map(EventSink::new).transpose()
}

/// Closes the database at environment teardown (process exit, worker exit) if the program
/// did not, so writes acknowledged under `durability: 'periodic'` or `'none'` are synced.
fn register_exit_hook(env: &Env, shared: &Arc<Shared>) -> Result<()> {
    let weak: Weak<Shared> = Arc::downgrade(shared);
    env.add_env_cleanup_hook(weak, |weak| {
        if let Some(shared) = weak.upgrade() {
            let _ = shared.close();
        }
    })?;
    Ok(())
}

/// The integrity level named by `check(level)`, parsed by the engine (default
/// `comprehensive`).
fn level(env: &Env, level: Option<String>) -> Result<ValidationLevel> {
    match level {
        None => Ok(ValidationLevel::Comprehensive),
        Some(s) => s.parse().map_err(|e: DatabaseError| to_js(env, &e)),
    }
}

/// Builds a batch from the JS layer's flat form `[type0, key0, value0, type1, ...]` (reading
/// array elements from native code is much cheaper than reading three named properties of
/// each operation object).
fn flat_batch(
    env: &Env,
    db_limits: (usize, usize),
    flat: &[BytesArg<'_>],
) -> Result<std::result::Result<lightning_db::WriteBatch, DatabaseError>> {
    if !flat.len().is_multiple_of(3) {
        return Err(type_error(
            env,
            "internal: flat batch length is not a multiple of 3",
        ));
    }
    let mut batch = lightning_db::WriteBatch::with_limits(db_limits.0, db_limits.1);
    for op in flat.chunks_exact(3) {
        let kind = match &op[0] {
            Either3::B(s) => s.as_str(),
            _ => "",
        };
        let key = bytes(env, &op[1], "key")?;
        let added = match kind {
            "put" => {
                if matches!(&op[2], Either3::C(u) if u.get_type()? == ValueType::Undefined) {
                    return Err(type_error(env, "a 'put' operation needs a value"));
                }
                let value = bytes(env, &op[2], "value")?;
                batch.put(&key, &value)
            }
            "del" => batch.delete(&key),
            _ => {
                return Err(type_error(
                    env,
                    "each batch operation must be an object with type 'put' or 'del'",
                ))
            }
        };
        if let Err(e) = added {
            return Ok(Err(e));
        }
    }
    Ok(Ok(batch))
}

/// Operation tags of the packed batch form.
const PACKED_PUT: u8 = 1;
/// See [`PACKED_PUT`].
const PACKED_DEL: u8 = 2;

/// Builds a batch from the JS layer's packed form: per operation a tag byte (1 put, 2 del),
/// the key as a little-endian u32 length and its bytes, and for a put the value the same way.
/// The JS layer packs only operations whose types it has checked, so crossing into native
/// code costs one buffer however many operations there are; sizes are checked here, by the
/// engine's `WriteBatch`.
fn packed_batch(
    env: &Env,
    db_limits: (usize, usize),
    mut packed: &[u8],
) -> Result<std::result::Result<lightning_db::WriteBatch, DatabaseError>> {
    fn field<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let len = u32::from_le_bytes(*len) as usize;
        if tail.len() < len {
            return None;
        }
        let (bytes, tail) = tail.split_at(len);
        *rest = tail;
        Some(bytes)
    }
    let malformed = || type_error(env, "internal: malformed packed batch");
    let mut batch = lightning_db::WriteBatch::with_limits(db_limits.0, db_limits.1);
    while let Some((&tag, rest)) = packed.split_first() {
        packed = rest;
        let key = field(&mut packed).ok_or_else(malformed)?;
        let added = match tag {
            PACKED_PUT => {
                let value = field(&mut packed).ok_or_else(malformed)?;
                batch.put(key, value)
            }
            PACKED_DEL => batch.delete(key),
            _ => return Err(malformed()),
        };
        if let Err(e) = added {
            return Ok(Err(e));
        }
    }
    Ok(Ok(batch))
}

/// The flat operations array, or anything else (refused with a `TypeError`).
type FlatOps<'a> = Either<Vec<BytesArg<'a>>, Unknown<'a>>;

/// The flat array, or a `TypeError` for anything else.
fn flat_ops<'a>(env: &Env, flat: FlatOps<'a>) -> Result<Vec<BytesArg<'a>>> {
    match flat {
        Either::A(v) => Ok(v),
        Either::B(_) => Err(type_error(env, "batch operations must be an array")),
    }
}

/// Opens a database on the thread pool (`Database.open`).
pub struct OpenTask {
    /// The directory, or `None` when the path argument was not a string.
    path: Option<String>,
    /// The configuration, or why the options were refused (reported as a rejection, so
    /// `Database.open` never throws).
    config: Option<std::result::Result<lightning_db::LightningDbConfig, DatabaseError>>,
    /// The `onEvent` listener, or the `TypeError` message refusing `onEvent`.
    events: std::result::Result<Option<Arc<EventSink>>, String>,
}

impl<'t> ScopedTask<'t> for OpenTask {
    type Output = std::result::Result<CoreDb, DatabaseError>;
    type JsValue = Database;

    fn compute(&mut self) -> Result<Self::Output> {
        let config = self.config.take();
        let (Some(path), Ok(events)) = (self.path.clone(), &self.events) else {
            // Reported as a TypeError by `resolve`.
            return Ok(Err(DatabaseError::InvalidArgument {
                message: "path must be a string".into(),
            }));
        };
        let listeners = events.iter().map(EventSink::listener).collect();
        Ok(crate::errors::guard(move || {
            let config = config.unwrap_or_else(|| Ok(Default::default()))?;
            CoreDb::open_with_listeners(path, config, listeners).map_err(js_field_names)
        }))
    }

    fn resolve(&mut self, env: &'t Env, output: Self::Output) -> Result<Database> {
        let Some(path) = self.path.clone() else {
            return Err(type_error(env, "path must be a string"));
        };
        let events = match &self.events {
            Ok(events) => events.clone(),
            Err(message) => return Err(type_error(env, message.clone())),
        };
        match output {
            Ok(db) => {
                let shared = Shared::new(db, events);
                register_exit_hook(env, &shared)?;
                Ok(Database {
                    shared,
                    location: path,
                })
            }
            Err(e) => Err(to_js(env, &e)),
        }
    }
}

impl Database {
    /// The open database's key and value size limits, for validating a batch as it is made.
    fn limits(&self, env: &Env) -> Result<(usize, usize)> {
        run(env, || {
            self.shared.with(|db| {
                let c = db.config();
                Ok((c.max_key_size, c.max_value_size))
            })
        })
    }
}

#[napi]
impl Database {
    /// Opens (creating if needed) the database in directory `path`. Blocks while the files are
    /// opened and recovered; `Database.open` does the same on the thread pool.
    #[napi(constructor, ts_args_type = "path: string, options?: DatabaseOptions")]
    pub fn new(
        env: Env,
        path: Either<String, Unknown<'_>>,
        options: Option<Unknown<'_>>,
    ) -> Result<Self> {
        let Either::A(path) = path else {
            return Err(type_error(&env, "path must be a string"));
        };
        let options = read_options(options);
        let on_event = options.on_event.map_err(|m| type_error(&env, m))?;
        let config = options.config.map_err(|e| to_js(&env, &e))?;
        let events = event_sink(on_event)?;
        let listeners = events.iter().map(EventSink::listener).collect();
        // Recovery-stage events of this open are queued on this thread and delivered once
        // the constructor has returned.
        let db = run(&env, || {
            CoreDb::open_with_listeners(&path, config, listeners).map_err(js_field_names)
        })?;
        let shared = Shared::new(db, events);
        register_exit_hook(&env, &shared)?;
        Ok(Database {
            shared,
            location: path,
        })
    }

    /// Opens the database on the thread pool.
    #[napi(
        ts_args_type = "path: string, options?: DatabaseOptions",
        ts_return_type = "Promise<Database>"
    )]
    pub fn open(
        path: Either<String, Unknown<'_>>,
        options: Option<Unknown<'_>>,
    ) -> AsyncTask<OpenTask> {
        let options = read_options(options);
        let events = options
            .on_event
            .and_then(|f| event_sink(f).map_err(|e| e.reason.clone()));
        AsyncTask::new(OpenTask {
            path: match path {
                Either::A(p) => Some(p),
                Either::B(_) => None,
            },
            config: Some(options.config),
            events,
        })
    }

    /// The directory the database was opened in.
    #[napi(getter)]
    pub fn location(&self) -> String {
        self.location.clone()
    }

    /// The database format the open database reads and writes (`'v1'`, `'v2'`): an older
    /// database keeps its format unless opened with `upgradeFormatOnOpen` or migrated.
    #[napi(getter, ts_return_type = "FormatVersion")]
    pub fn format_version(&self, env: Env) -> Result<String> {
        run(&env, || {
            self.shared
                .with(|db| Ok(format!("v{}", db.format_version().resolve().number())))
        })
    }

    /// True when the database is encrypted at rest (opened with `encryptionKey`).
    #[napi(getter)]
    pub fn encrypted(&self, env: Env) -> Result<bool> {
        run(&env, || self.shared.with(|db| Ok(db.is_encrypted())))
    }

    /// The generation of the data key new files are sealed with (1 for a new encrypted
    /// database), or `null` for a plain one.
    #[napi(getter)]
    pub fn key_generation(&self, env: Env) -> Result<Option<u32>> {
        run(&env, || self.shared.with(|db| Ok(db.key_generation())))
    }

    /// False once `close()` has run.
    #[napi(getter)]
    pub fn is_open(&self) -> bool {
        !self.shared.is_closed()
    }

    /// Syncs the log and closes the database, waiting for calls in flight. Calling it again
    /// does nothing; every later operation throws `LIGHTNING_DATABASE_CLOSED`.
    #[napi]
    pub fn close(&self, env: Env) -> Result<()> {
        run(&env, || self.shared.close())
    }

    /// The value of `key`, or `undefined`. Runs on the JS thread (a read from memory or the
    /// mapped files, no waiting on writers).
    #[napi(ts_args_type = "key: Key", ts_return_type = "Buffer | undefined")]
    pub fn get_sync<'e>(&self, env: &'e Env, key: BytesArg<'_>) -> Result<Unknown<'e>> {
        let key = bytes(env, &key, "key")?;
        let pinned = run(env, || self.shared.with(|db| db.get_pinned(&key)))?;
        match pinned {
            Some(v) => buffer(env, &v),
            None => ().into_unknown(env),
        }
    }

    /// The raw functions behind the JS layer's `getSync` and `get` (see the `fast` module):
    /// `[getInto, getCached, keyBuffer, valueBuffer]`, each function taking the length of
    /// the key written at the start of `keyBuffer`.
    #[napi(
        js_name = "_fastReads",
        ts_return_type = "[(keyLength: number) => number, (keyLength: number) => number, ArrayBuffer, ArrayBuffer]"
    )]
    pub fn fast_reads<'e>(&self, env: &'e Env) -> Result<Unknown<'e>> {
        crate::fast::make(env, &self.shared)
    }

    /// The value of `key`, or `undefined`. The JS layer answers in place when the value is in
    /// memory (see `_fastReads`); this native method reads on the thread pool.
    #[napi(
        ts_args_type = "key: Key",
        ts_return_type = "Promise<Buffer | undefined>"
    )]
    pub fn get(&self, env: Env, key: BytesArg<'_>) -> Result<AsyncTask<DbTask<Option<Vec<u8>>>>> {
        let key = owned(&env, &key, "key")?;
        Ok(DbTask::new(self.shared.clone(), move |db| db.get(&key)))
    }

    /// The values of `keys` (each a `Buffer` or `undefined`), in order.
    #[napi(
        ts_args_type = "keys: Key[]",
        ts_return_type = "Array<Buffer | undefined>"
    )]
    pub fn get_many_sync<'e>(&self, env: &'e Env, keys: Vec<BytesArg<'_>>) -> Result<Unknown<'e>> {
        let mut arr = env.create_array(keys.len() as u32)?;
        for (i, key) in keys.iter().enumerate() {
            let key = bytes(env, key, "key")?;
            let pinned = run(env, || self.shared.with(|db| db.get_pinned(&key)))?;
            match pinned {
                Some(v) => arr.set(i as u32, buffer(env, &v)?)?,
                None => arr.set(i as u32, ())?,
            }
        }
        arr.into_unknown(env)
    }

    /// The values of `keys`, read on the thread pool.
    #[napi(
        ts_args_type = "keys: Key[]",
        ts_return_type = "Promise<Array<Buffer | undefined>>"
    )]
    pub fn get_many(&self, env: Env, keys: Vec<BytesArg<'_>>) -> Result<AsyncTask<DbTask<Values>>> {
        let keys = keys
            .iter()
            .map(|k| owned(&env, k, "key"))
            .collect::<Result<Vec<_>>>()?;
        Ok(DbTask::new(self.shared.clone(), move |db| {
            keys.iter().map(|k| db.get(k)).collect()
        }))
    }

    /// Stores `value` under `key`; durable (per `durability`) when the promise resolves. Puts
    /// made in the same turn share one commit.
    #[napi(
        ts_args_type = "key: Key, value: Value",
        ts_return_type = "Promise<void>"
    )]
    pub fn put(
        &self,
        env: Env,
        key: BytesArg<'_>,
        value: BytesArg<'_>,
    ) -> Result<AsyncTask<WriteTask>> {
        let key = owned(&env, &key, "key")?;
        let value = owned(&env, &value, "value")?;
        let ticket = if self.shared.is_closed() {
            Err(DatabaseError::DatabaseClosed)
        } else {
            Ok(self.shared.queue.push(QueuedOp::Put(key, value)))
        };
        Ok(WriteTask::new(self.shared.clone(), ticket))
    }

    /// Stores `value` under `key`, blocking the JS thread until it is durable.
    #[napi(ts_args_type = "key: Key, value: Value")]
    pub fn put_sync(&self, env: Env, key: BytesArg<'_>, value: BytesArg<'_>) -> Result<()> {
        let key = bytes(&env, &key, "key")?;
        let value = bytes(&env, &value, "value")?;
        run(&env, || self.shared.with(|db| db.put(&key, &value)))
    }

    /// Removes `key`; resolves to whether it held a value.
    #[napi(ts_args_type = "key: Key", ts_return_type = "Promise<boolean>")]
    pub fn del(&self, env: Env, key: BytesArg<'_>) -> Result<AsyncTask<WriteTask>> {
        let key = owned(&env, &key, "key")?;
        let ticket = if self.shared.is_closed() {
            Err(DatabaseError::DatabaseClosed)
        } else {
            Ok(self.shared.queue.push(QueuedOp::Del(key)))
        };
        Ok(WriteTask::new(self.shared.clone(), ticket))
    }

    /// Removes `key`, blocking; returns whether it held a value.
    #[napi(ts_args_type = "key: Key")]
    pub fn del_sync(&self, env: Env, key: BytesArg<'_>) -> Result<bool> {
        let key = bytes(&env, &key, "key")?;
        run(&env, || self.shared.with(|db| db.delete(&key)))
    }

    /// `db.batch(ops)` (all or nothing, on the thread pool), in the flat form the JS layer
    /// builds from the operation objects (see [`flat_batch`]).
    #[napi(
        js_name = "_batchFlat",
        ts_args_type = "flat: unknown[]",
        ts_return_type = "Promise<void>"
    )]
    pub fn batch_flat(&self, env: Env, flat: FlatOps<'_>) -> Result<AsyncTask<WriteTask>> {
        let flat = flat_ops(&env, flat)?;
        let ticket = match self.limits(&env) {
            Err(_) => Err(DatabaseError::DatabaseClosed),
            Ok(limits) => flat_batch(&env, limits, &flat)?
                .map(|batch| self.shared.queue.push(QueuedOp::Batch(batch))),
        };
        Ok(WriteTask::new(self.shared.clone(), ticket))
    }

    /// `db.batch(ops)` in the packed form (see [`packed_batch`]).
    #[napi(
        js_name = "_batchPacked",
        ts_args_type = "packed: Uint8Array",
        ts_return_type = "Promise<void>"
    )]
    pub fn batch_packed(&self, env: Env, packed: &[u8]) -> Result<AsyncTask<WriteTask>> {
        let ticket = match self.limits(&env) {
            Err(_) => Err(DatabaseError::DatabaseClosed),
            Ok(limits) => packed_batch(&env, limits, packed)?
                .map(|batch| self.shared.queue.push(QueuedOp::Batch(batch))),
        };
        Ok(WriteTask::new(self.shared.clone(), ticket))
    }

    /// `db.batchSync(ops)` in the packed form.
    #[napi(js_name = "_batchPackedSync", ts_args_type = "packed: Uint8Array")]
    pub fn batch_packed_sync(&self, env: Env, packed: &[u8]) -> Result<()> {
        let limits = self.limits(&env)?;
        let batch = packed_batch(&env, limits, packed)?.map_err(|e| to_js(&env, &e))?;
        run(&env, || self.shared.with(|db| db.write_batch(&batch)))
    }

    /// `db.batchSync(ops)` (all or nothing, blocking), in the JS layer's flat form.
    #[napi(js_name = "_batchFlatSync", ts_args_type = "flat: unknown[]")]
    pub fn batch_flat_sync(&self, env: Env, flat: FlatOps<'_>) -> Result<()> {
        let flat = flat_ops(&env, flat)?;
        let limits = self.limits(&env)?;
        let batch = flat_batch(&env, limits, &flat)?.map_err(|e| to_js(&env, &e))?;
        run(&env, || self.shared.with(|db| db.write_batch(&batch)))
    }

    /// The native range iterator behind `db.iterator()`, `db.keys()` and `db.values()`
    /// (wrapped by the JS layer into a sync and async iterable).
    #[napi(
        js_name = "_rawIterator",
        ts_args_type = "gt?: Key, gte?: Key, lt?: Key, lte?: Key, prefix?: Key, reverse?: boolean, limit?: number"
    )]
    #[allow(clippy::too_many_arguments)]
    pub fn raw_iterator(
        &self,
        env: Env,
        gt: Option<BytesArg<'_>>,
        gte: Option<BytesArg<'_>>,
        lt: Option<BytesArg<'_>>,
        lte: Option<BytesArg<'_>>,
        prefix: Option<BytesArg<'_>>,
        reverse: Option<bool>,
        limit: Option<Either<f64, Unknown<'_>>>,
    ) -> Result<NativeIterator> {
        let r = range(
            &env,
            RangeArgs {
                gt,
                gte,
                lt,
                lte,
                prefix,
                reverse,
                limit,
            },
        )?;
        let bounds = (r.lower.clone(), r.upper.clone());
        let it = run(&env, || {
            self.shared.with(|db| {
                Ok(
                    db.range::<(std::ops::Bound<&[u8]>, std::ops::Bound<&[u8]>)>((
                        as_ref(&bounds.0),
                        as_ref(&bounds.1),
                    )),
                )
            })
        })?;
        Ok(NativeIterator::new(self.shared.clone(), Source::Db(it), &r))
    }

    /// Points `raw`, a native iterator of this database that its JS iterator has finished
    /// with, at a new range over the database as of now, as `_rawIterator` would make. The JS
    /// layer keeps one finished iterator per database for this, so a loop of short ranges
    /// does not create (and later finalize and collect) a native object per range.
    #[napi(
        js_name = "_reuseIterator",
        ts_args_type = "raw: NativeIterator, gt?: Key, gte?: Key, lt?: Key, lte?: Key, prefix?: Key, reverse?: boolean, limit?: number"
    )]
    #[allow(clippy::too_many_arguments)]
    pub fn reuse_iterator(
        &self,
        env: Env,
        raw: &mut NativeIterator,
        gt: Option<BytesArg<'_>>,
        gte: Option<BytesArg<'_>>,
        lt: Option<BytesArg<'_>>,
        lte: Option<BytesArg<'_>>,
        prefix: Option<BytesArg<'_>>,
        reverse: Option<bool>,
        limit: Option<Either<f64, Unknown<'_>>>,
    ) -> Result<()> {
        if !raw.belongs_to(&self.shared) {
            return Err(type_error(&env, "the iterator belongs to another database"));
        }
        let fresh = self.raw_iterator(env, gt, gte, lt, lte, prefix, reverse, limit)?;
        raw.replace_with(fresh);
        Ok(())
    }

    /// A consistent read-only view as of now.
    #[napi]
    pub fn snapshot(&self, env: Env) -> Result<Snapshot> {
        let snap = run(&env, || self.shared.with(|db| Ok(db.snapshot())))?;
        Ok(Snapshot::new(self.shared.clone(), snap))
    }

    /// Starts a transaction: optimistic (conflicts found at commit) unless `pessimistic`.
    #[napi]
    pub fn begin_transaction(
        &self,
        env: Env,
        options: Option<TransactionOptionsArg>,
    ) -> Result<Transaction> {
        let mut opts = TransactionOptions::default();
        if let Some(o) = options {
            if o.pessimistic.unwrap_or(false) {
                opts.mode = TransactionMode::Pessimistic;
            }
            if let Some(ms) = o.lock_timeout_ms {
                opts.lock_timeout = std::time::Duration::from_millis(u64::from(ms));
            }
        }
        let tx = run(&env, || {
            self.shared.with(|db| db.begin_transaction_with(opts))
        })?;
        Ok(Transaction::new(self.shared.clone(), tx))
    }

    /// Writes every memtable to table files (on the thread pool).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn flush(&self) -> AsyncTask<DbTask<()>> {
        DbTask::new(self.shared.clone(), |db| db.flush())
    }

    /// Full manual compaction (on the thread pool).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn compact(&self) -> AsyncTask<DbTask<()>> {
        DbTask::new(self.shared.clone(), |db| db.compact())
    }

    /// Makes every acknowledged write durable now (on the thread pool).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn sync(&self) -> AsyncTask<DbTask<()>> {
        DbTask::new(self.shared.clone(), |db| db.sync())
    }

    /// Rotates the data key of an encrypted database and returns the new key generation:
    /// the new key is written to the key file first, then seals everything written from
    /// then on; older files stay readable. A plain database throws
    /// `LIGHTNING_INVALID_ARGUMENT`. Blocking (it writes and syncs one small file).
    #[napi]
    pub fn rotate_key_sync(&self, env: Env) -> Result<u32> {
        run(&env, || self.shared.with(|db| db.rotate_key()))
    }

    /// `rotateKeySync()`, then every file re-sealed under the new key (the log and
    /// memtable move to it, every table is rewritten, the manifest is rolled) and the
    /// older keys removed from the key file once nothing reads a file sealed with them.
    /// Blocking (it rewrites every table).
    #[napi(
        ts_return_type = "{ generation: number; tablesRewritten: number; retiredGenerations: number[] }"
    )]
    pub fn rotate_key_now_sync<'e>(&self, env: &'e Env) -> Result<Unknown<'e>> {
        let r = run(env, || self.shared.with(|db| db.rotate_key_now()))?;
        let json = serde_json::json!({
            "generation": r.generation,
            "tables_rewritten": r.tables_rewritten,
            "retired_generations": r.retired_generations,
        })
        .to_string();
        crate::convert::report_to_js(env, &json)
    }

    /// Re-wraps the data keys of an encrypted database under `newKey` (a Buffer or
    /// Uint8Array of 32 bytes; `LIGHTNING_INVALID_KEY_MATERIAL` otherwise): only the key
    /// file is rewritten, and the database opens with `newKey` only from then on.
    /// Blocking.
    #[napi]
    pub fn rewrap_key_sync(&self, env: Env, new_key: Uint8Array) -> Result<()> {
        run(&env, || {
            let key = lightning_db::EncryptionKey::from_slice(&new_key)?;
            self.shared.with(|db| db.rewrap_key(key))
        })
    }

    /// `flush()`, blocking.
    #[napi]
    pub fn flush_sync(&self, env: Env) -> Result<()> {
        run(&env, || self.shared.with(|db| db.flush()))
    }

    /// `compact()`, blocking.
    #[napi]
    pub fn compact_sync(&self, env: Env) -> Result<()> {
        run(&env, || self.shared.with(|db| db.compact()))
    }

    /// `sync()`, blocking.
    #[napi]
    pub fn sync_sync(&self, env: Env) -> Result<()> {
        run(&env, || self.shared.with(|db| db.sync()))
    }

    /// Verifies the database's files at `level` (`'basic'`, `'standard'`, `'comprehensive'`
    /// (default) or `'paranoid'`) on the thread pool; resolves to the integrity report.
    #[napi(
        ts_args_type = "level?: IntegrityLevel",
        ts_return_type = "Promise<IntegrityReport>"
    )]
    pub fn check(&self, env: Env, level_name: Option<String>) -> Result<AsyncTask<DbTask<Report>>> {
        let lvl = level(&env, level_name)?;
        Ok(DbTask::new(self.shared.clone(), move |db| {
            db.verify_integrity(lvl).map(|r| Report(r.to_json()))
        }))
    }

    /// `check()`, blocking.
    #[napi(
        ts_args_type = "level?: IntegrityLevel",
        ts_return_type = "IntegrityReport"
    )]
    pub fn check_sync<'e>(&self, env: &'e Env, level_name: Option<String>) -> Result<Unknown<'e>> {
        let lvl = level(env, level_name)?;
        let json = run(env, || {
            self.shared
                .with(|db| db.verify_integrity(lvl).map(|r| r.to_json()))
        })?;
        crate::convert::report_to_js(env, &json)
    }

    /// Test hook: a thread-pool task that panics, so the test suite can check that the
    /// promise rejects with `LIGHTNING_INTERNAL` and the process lives on.
    #[napi(js_name = "_testPanicAsync", ts_return_type = "Promise<void>")]
    pub fn test_panic_async(&self) -> AsyncTask<DbTask<()>> {
        DbTask::new(self.shared.clone(), |_| {
            panic!("deliberate panic from _testPanicAsync")
        })
    }

    /// Sizes, levels, counters and what recovery did, as a plain object (keys in camelCase).
    #[napi(ts_return_type = "Record<string, unknown>")]
    pub fn stats<'e>(&self, env: &'e Env) -> Result<Unknown<'e>> {
        let json = run(env, || self.shared.with(|db| Ok(db.stats().to_json())))?;
        crate::convert::report_to_js(env, &json)
    }

    /// How this handle's open recovered (`RecoveryState`): `stage`, `progress`, `etaMs`,
    /// `completedStages`, `complete`, `failed`, `canRollback`, `elapsedMs`,
    /// `replayedSegments` (`done`, `total`) and `failedStages`.
    #[napi(ts_return_type = "RecoveryState")]
    pub fn recovery_state<'e>(&self, env: &'e Env) -> Result<Unknown<'e>> {
        let json = run(env, || {
            self.shared.with(|db| Ok(db.recovery_state().to_json()))
        })?;
        crate::convert::report_to_js(env, &json)
    }

    /// The database's health report (`HealthReport`), on the thread pool: `state`, each
    /// built-in check (`integrity`, `resources`, `performance`) with its `criticality`,
    /// `status`, `remediation`, `note`, `checkedAt` and `duration` (milliseconds), `rounds`,
    /// and the engine's self-checks as `engine`. Without `enableHealthMonitoring` each call
    /// runs one round of the checks; with it, the latest round the database ran itself.
    #[napi(ts_return_type = "Promise<HealthReport>")]
    pub fn health(&self) -> AsyncTask<DbTask<MonitorReport>> {
        DbTask::new(self.shared.clone(), |db| {
            Ok(MonitorReport(db.health().to_json()))
        })
    }

    /// `health()`, blocking the JavaScript thread while the round runs.
    #[napi(ts_return_type = "HealthReport")]
    pub fn health_sync<'e>(&self, env: &'e Env) -> Result<Unknown<'e>> {
        let json = run(env, || self.shared.with(|db| Ok(db.health().to_json())))?;
        crate::convert::monitor_report_to_js(env, &json)
    }

    /// The counters and gauges in the Prometheus text format (`DbStats::to_prometheus`).
    #[napi]
    pub fn prometheus(&self, env: Env) -> Result<String> {
        run(&env, || {
            self.shared.with(|db| Ok(db.stats().to_prometheus()))
        })
    }

    /// The database's performance metrics (`PerformanceMetrics`): the reference's fields
    /// (latency percentiles in milliseconds, throughputs per second over the last
    /// interval, cache hit rate, memory and disk bytes, CPU use, error rate, availability,
    /// recovery time), the evidence behind them, `sla`, and `meetsSla`,
    /// `performanceScore`, `bottlenecks`.
    #[napi(ts_return_type = "PerformanceMetrics")]
    pub fn metrics<'e>(&self, env: &'e Env) -> Result<Unknown<'e>> {
        let json = run(env, || self.shared.with(|db| Ok(db.metrics().to_json())))?;
        crate::convert::monitor_report_to_js(env, &json)
    }
}

/// Borrows an owned bound.
pub(crate) fn as_ref(b: &std::ops::Bound<Vec<u8>>) -> std::ops::Bound<&[u8]> {
    match b {
        std::ops::Bound::Included(k) => std::ops::Bound::Included(k.as_slice()),
        std::ops::Bound::Excluded(k) => std::ops::Bound::Excluded(k.as_slice()),
        std::ops::Bound::Unbounded => std::ops::Bound::Unbounded,
    }
}
