'use strict'
// The package entry point: the generated native binding (index.js) plus the small pieces that
// are natural in JavaScript and carry no engine logic: the iterable protocol over the native
// chunked iterator, db.transaction(fn), and the error code map built from the engine's table.
const native = require('./index.js')

const { Database, Snapshot, Transaction, NativeIterator } = native

const MODE_ENTRIES = 0
const MODE_KEYS = 1
const MODE_VALUES = 2
// Chunks start small (a short range or an early `break` wastes little) and grow to amortise
// the native call over long scans.
const FIRST_CHUNK = 16
const MAX_CHUNK = 1024
// Stands in for an item's length after the last item of the range.
const END_MARK = 0xffffffff

// The next chunk of `raw`: written by native code into the iterator's lent buffer and copied
// out into a pooled Buffer (no native Buffer and backing store per chunk), or, when it does
// not fit there, handed over by nextChunk as a Buffer of its own.
const LENT = Symbol('chunkBuffer')
function readChunk(raw, size, mode) {
  let lent = raw[LENT]
  if (lent === undefined) {
    lent = Buffer.from(raw._chunkBuffer())
    Object.defineProperty(raw, LENT, { value: lent })
  }
  const n = raw.nextChunkInto(size, mode)
  if (n < 0) return raw.nextChunk(size, mode)
  const chunk = Buffer.allocUnsafe(n)
  lent.copy(chunk, 0, 0, n)
  return chunk
}

class RangeIterator {
  // `owner`: the Database whose spare native iterator `raw` becomes once this iterator has
  // ended (null for snapshots and transactions, whose ranges are not pooled).
  constructor(raw, mode, owner = null) {
    this._raw = raw
    this._owner = owner
    this._mode = mode
    this._chunk = null // from nextChunk: [u32 LE length][bytes] per key and/or value, END_MARK last
    this._pos = 0
    this._size = FIRST_CHUNK
    this._done = false
  }

  // The next length-prefixed item of the current chunk, as a view (no copy).
  _take() {
    const chunk = this._chunk
    const start = this._pos + 4
    this._pos = start + chunk.readUInt32LE(this._pos)
    return chunk.subarray(start, this._pos)
  }

  next() {
    if (this._chunk === null || this._pos >= this._chunk.length) {
      if (this._done) return { value: undefined, done: true }
      this._chunk = readChunk(this._raw, this._size, this._mode)
      this._pos = 0
      if (this._size < MAX_CHUNK) this._size *= 2
    }
    if (this._chunk.readUInt32LE(this._pos) === END_MARK) {
      this._done = true
      this._chunk = null
      this._release()
      return { value: undefined, done: true }
    }
    if (this._mode === MODE_ENTRIES) {
      const key = this._take()
      return { value: [key, this._take()], done: false }
    }
    return { value: this._take(), done: false }
  }

  return(value) {
    this.close()
    return { value, done: true }
  }

  close() {
    this._done = true
    this._chunk = null
    if (this._raw !== null) {
      this._raw.close()
      this._release()
    }
  }

  // Hands the finished native iterator (its view already released) to the database for its
  // next range, so a loop of short ranges does not create, finalize and collect a native
  // object per range. This iterator no longer touches it.
  _release() {
    if (this._owner !== null && this._owner._spareIterator == null) {
      this._owner._spareIterator = this._raw
      this._raw = null
    }
  }

  [Symbol.iterator]() {
    return this
  }

  // Async iteration reads the same chunks (from memory and the mapped files, on the JS
  // thread, as lmdb-js does); each step is a resolved promise.
  [Symbol.asyncIterator]() {
    return {
      next: () => {
        try {
          return Promise.resolve(this.next())
        } catch (err) {
          return Promise.reject(err)
        }
      },
      return: (value) => Promise.resolve(this.return(value)),
      [Symbol.asyncIterator]() {
        return this
      },
    }
  }

  /** Every remaining item as an array. */
  all() {
    return Array.from(this)
  }
}

// Range options are passed positionally: destructuring here is cheaper than reading the
// object's properties from native code.
function raw(self, o) {
  if (o === undefined || o === null) return self._rawIterator()
  return self._rawIterator(o.gt, o.gte, o.lt, o.lte, o.prefix, o.reverse, o.limit)
}

// A database's ranges reuse its spare native iterator when it has one (see `_release`).
function pooledRaw(self, o) {
  const spare = self._spareIterator
  if (spare == null) return raw(self, o)
  self._spareIterator = null
  try {
    if (o === undefined || o === null) self._reuseIterator(spare)
    else self._reuseIterator(spare, o.gt, o.gte, o.lt, o.lte, o.prefix, o.reverse, o.limit)
  } catch (err) {
    // Bad options or a closed database: the spare is unchanged and stays spare.
    self._spareIterator = spare
    throw err
  }
  return spare
}

function addRanges(Class, pooled) {
  const make = pooled ? pooledRaw : raw
  const owner = (self) => (pooled ? self : null)
  Class.prototype.iterator = function iterator(options) {
    return new RangeIterator(make(this, options), MODE_ENTRIES, owner(this))
  }
  Class.prototype.keys = function keys(options) {
    return new RangeIterator(make(this, options), MODE_KEYS, owner(this))
  }
  Class.prototype.values = function values(options) {
    return new RangeIterator(make(this, options), MODE_VALUES, owner(this))
  }
}
addRanges(Database, true)
addRanges(Snapshot, false)
addRanges(Transaction, false)

// getSync and get(key) take a fast path for keys that are a Buffer, a Uint8Array or a short
// string, as lmdb-js does: the key is written into a key buffer and a raw native function is
// called with its length alone (no argument conversion, no check of `this`); the value comes
// back in a value buffer, and a copy of it is returned. The buffers and the two functions
// belong to the database (see src/fast.rs), made on its first read. Anything else (other key
// types, which then get the native TypeError, and long keys or values) takes the napi
// methods.
const FAST = Symbol('fastReads')
const MISSING = -1
const NEEDS_IO = -2
function fastReads(db) {
  let fast = db[FAST]
  if (fast === undefined) {
    const [getInto, getCached, keyBuffer, valueBuffer] = db._fastReads()
    fast = { getInto, getCached, key: Buffer.from(keyBuffer), value: Buffer.from(valueBuffer) }
    Object.defineProperty(db, FAST, { value: fast })
  }
  return fast
}
// The key's length in the key buffer after writing it there, or -1 when the key must take
// the napi methods. A string is written only when it surely fits (3 bytes per UTF-16 unit).
function writeKey(fast, key) {
  if (key instanceof Uint8Array) {
    if (key.length > fast.key.length) return -1
    fast.key.set(key)
    return key.length
  }
  if (typeof key === 'string' && key.length * 3 <= fast.key.length) {
    return fast.key.utf8Write(key, 0)
  }
  return -1
}
function copyValue(fast, n) {
  const out = Buffer.allocUnsafe(n)
  fast.value.copy(out, 0, 0, n)
  return out
}

const nativeGetSync = Database.prototype.getSync
Database.prototype.getSync = function getSync(key) {
  const fast = fastReads(this)
  const len = writeKey(fast, key)
  if (len <= 0) return nativeGetSync.call(this, key)
  const n = fast.getInto(len)
  if (n === MISSING) return undefined
  if (n > fast.value.length) return nativeGetSync.call(this, key)
  return copyValue(fast, n)
}

// get(key) answers in place when the value is in memory (the memtable, the block cache, or
// mapped table pages the OS holds): a resolved promise, no trip to the thread pool. Only a
// read that needs the disk goes to the pool, so the event loop never waits for I/O. Values
// larger than the value buffer also take the pool path.
const nativeGet = Database.prototype.get
Database.prototype.get = function get(key) {
  // Rejects instead of throwing, as the methods rejectInsteadOfThrow wraps below; this one
  // does it itself so the common read pays for no rest-arguments wrapper.
  try {
    const fast = fastReads(this)
    const len = writeKey(fast, key)
    if (len > 0) {
      const n = fast.getCached(len)
      if (n === MISSING) return Promise.resolve(undefined)
      if (n !== NEEDS_IO && n <= fast.value.length) return Promise.resolve(copyValue(fast, n))
    }
    return nativeGet.call(this, key)
  } catch (err) {
    return Promise.reject(err)
  }
}

// batch(ops) packs the operations into one buffer (a tag byte, then the key and, for a put,
// the value, each as a u32 LE length and its bytes), so crossing into native code costs one
// buffer instead of three property reads and conversions per operation. Only operations whose
// types are plainly right are packed; anything else goes as a flat array
// [type, key, value, ...] to the native side, which reports the exact TypeError. Sizes are
// checked by the engine in both cases.
const PUT = 1
const DEL = 2
function byteLength(x) {
  if (x instanceof Uint8Array) return x.length
  if (typeof x === 'string') return Buffer.byteLength(x)
  return -1
}
function pack(ops) {
  let size = 0
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]
    if (op === null || typeof op !== 'object') return null
    const k = byteLength(op.key)
    if (k < 0) return null
    if (op.type === 'put') {
      const v = byteLength(op.value)
      if (v < 0) return null
      size += 9 + k + v
    } else if (op.type === 'del') {
      size += 5 + k
    } else {
      return null
    }
  }
  const out = Buffer.allocUnsafe(size)
  let pos = 0
  const put = (x) => {
    if (typeof x === 'string') {
      const n = out.write(x, pos + 4)
      out.writeUInt32LE(n, pos)
      pos += 4 + n
    } else {
      out.writeUInt32LE(x.length, pos)
      out.set(x, pos + 4)
      pos += 4 + x.length
    }
  }
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]
    if (op.type === 'put') {
      out[pos++] = PUT
      put(op.key)
      put(op.value)
    } else {
      out[pos++] = DEL
      put(op.key)
    }
  }
  return out
}
function flatten(ops) {
  const flat = new Array(ops.length * 3)
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]
    const isObject = op !== null && typeof op === 'object'
    flat[3 * i] = isObject ? op.type : undefined
    flat[3 * i + 1] = isObject ? op.key : undefined
    flat[3 * i + 2] = isObject ? op.value : undefined
  }
  return flat
}
Database.prototype.batch = function batch(ops) {
  const packed = Array.isArray(ops) ? pack(ops) : null
  if (packed !== null) return this._batchPacked(packed)
  return this._batchFlat(Array.isArray(ops) ? flatten(ops) : ops)
}
Database.prototype.batchSync = function batchSync(ops) {
  const packed = Array.isArray(ops) ? pack(ops) : null
  if (packed !== null) return this._batchPackedSync(packed)
  return this._batchFlatSync(Array.isArray(ops) ? flatten(ops) : ops)
}

// Runs `fn(tx)`; commits when it resolves, rolls back and rethrows when it throws.
Database.prototype.transaction = async function transaction(fn, options) {
  const tx = this.beginTransaction(options)
  let result
  try {
    result = await fn(tx)
  } catch (err) {
    tx.rollback()
    throw err
  }
  await tx.commit()
  return result
}

// Promise-returning methods never throw: a bad argument (a TypeError, an invalid option, a
// closed database) rejects the promise instead, as Node's own promise APIs do.
function rejectInsteadOfThrow(target, names) {
  for (const name of names) {
    const fn = target[name]
    target[name] = {
      [name](...args) {
        try {
          return fn.apply(this, args)
        } catch (err) {
          return Promise.reject(err)
        }
      },
    }[name]
  }
}
// (Database.open is a non-writable static; it reports bad options as rejections natively.)
rejectInsteadOfThrow(Database.prototype, ['getMany', 'put', 'del', 'batch', 'flush', 'compact', 'sync', 'check'])
rejectInsteadOfThrow(Transaction.prototype, ['commit'])

// migrate(path, options) rejects (never throws) on bad arguments, as the methods above.
function migrate(path, options) {
  try {
    return native.migrate(path, options)
  } catch (err) {
    return Promise.reject(err)
  }
}

// Bad arguments (a key of the wrong length) reject too, as migrate's do.
function encryptDatabase(path, key) {
  try {
    return native.encryptDatabase(path, key)
  } catch (err) {
    return Promise.reject(err)
  }
}

function decryptDatabase(path, key) {
  try {
    return native.decryptDatabase(path, key)
  } catch (err) {
    return Promise.reject(err)
  }
}

const errorTable = Object.freeze(native.errorTable().map((row) => Object.freeze(row)))
// Both spellings map to the number: errorCodes.LIGHTNING_TRANSACTION_CONFLICT and
// errorCodes.TRANSACTION_CONFLICT are 105.
const errorCodes = Object.freeze(
  Object.fromEntries(errorTable.flatMap((row) => [[row.code, row.errno], [row.name, row.errno]])),
)

module.exports = {
  Database,
  Snapshot,
  Transaction,
  NativeIterator,
  RangeIterator,
  errorCodes,
  errorTable,
  auditVerify: native.auditVerify,
  detectVersion: native.detectVersion,
  needsMigration: native.needsMigration,
  migrate,
  migrateSync: native.migrateSync,
  encryptDatabase,
  encryptDatabaseSync: native.encryptDatabaseSync,
  decryptDatabase,
  decryptDatabaseSync: native.decryptDatabaseSync,
}
