'use strict'
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { Database, errorCodes, errorTable } = require('lightning-db')
const { tmpdir, rejectsWith } = require('./helpers')

test('sync and async point operations', async (t) => {
  const db = new Database(tmpdir(t))
  assert.equal(db.isOpen, true)
  db.putSync('a', 'one')
  assert.deepEqual(db.getSync('a'), Buffer.from('one'))
  assert.equal(db.getSync('missing'), undefined)
  await db.put(Buffer.from('b'), new Uint8Array([1, 2, 3]))
  assert.deepEqual(await db.get('b'), Buffer.from([1, 2, 3]))
  assert.equal(await db.get('missing'), undefined)
  assert.equal(await db.del('b'), true)
  assert.equal(await db.del('b'), false)
  assert.equal(db.delSync('a'), true)
  assert.equal(db.delSync('a'), false)
  db.putSync('x', '')
  assert.deepEqual(db.getSync('x'), Buffer.alloc(0))
  db.putSync('ключ', 'значение')
  assert.equal(db.getSync(Buffer.from('ключ', 'utf8')).toString(), 'значение')
  db.close()
  assert.equal(db.isOpen, false)
})

// The raw read functions behind getSync and get: the key goes in the key buffer, the call
// takes its length, the value comes back in the value buffer.
function fastRead(db, key, cachedOnly) {
  const [getInto, getCached, keyBuffer, valueBuffer] = db._fastReads()
  const k = Buffer.from(key)
  Buffer.from(keyBuffer).set(k)
  const n = (cachedOnly ? getCached : getInto)(k.length)
  return { n, value: Buffer.from(valueBuffer), keyBuffer, valueBuffer }
}

test('await get answers from memory in place and goes to the pool only for the disk', async (t) => {
  // Tables read with pread (mmapReads off): a block is in memory once a read cached it.
  const db = new Database(tmpdir(t), { mmapReads: false, writeBufferSize: 1 << 20 })
  db.putSync('mem', 'in the memtable')
  const mem = fastRead(db, 'mem', true)
  assert.equal(mem.n, 15)
  assert.equal(mem.value.subarray(0, 15).toString(), 'in the memtable')
  assert.equal(fastRead(db, 'absent', true).n, -1)
  const ops = []
  for (let i = 0; i < 500; i++) ops.push({ type: 'put', key: `t${String(i).padStart(5, '0')}`, value: `v${i}` })
  db.batchSync(ops)
  await db.flush()
  // On disk only: -2, nothing read; `get` then reads on the pool and caches the block.
  assert.equal(fastRead(db, 't00321', true).n, -2)
  const p = db.get('t00321')
  assert.ok(p instanceof Promise)
  assert.equal((await p).toString(), 'v321')
  assert.equal(fastRead(db, 't00321', true).n, 4)
  // getSync's function reads the disk itself.
  assert.equal(fastRead(db, 't00400', false).n, 4)
  assert.equal((await db.get('t00322')).toString(), 'v322')
  assert.equal(await db.get('t99999'), undefined)
  // A value larger than the value buffer: its length, nothing copied; read again on the pool.
  const big = Buffer.alloc(100 * 1024, 7)
  db.putSync('big', big)
  const answer = fastRead(db, 'big', true)
  assert.equal(answer.n, big.length)
  assert.ok(answer.valueBuffer.byteLength < big.length)
  assert.deepEqual(await db.get('big'), big)
  assert.deepEqual(db.getSync('big'), big)
  // Each answer is a fresh Buffer, not a view of the shared value buffer.
  const a = await db.get('mem')
  const s = db.getSync('mem')
  db.putSync('mem', 'changed!')
  assert.equal(a.toString(), 'in the memtable')
  assert.equal(s.toString(), 'in the memtable')
  assert.equal((await db.get('mem')).toString(), 'changed!')
  assert.equal(db.getSync('mem').toString(), 'changed!')
  await rejectsWith(assert, () => db.get(''), 'LIGHTNING_EMPTY_KEY')
  assert.throws(() => db.getSync(''), { code: 'LIGHTNING_EMPTY_KEY' })
  db.close()
  await rejectsWith(assert, () => db.get('mem'), 'LIGHTNING_DATABASE_CLOSED')
  assert.throws(() => db.getSync('mem'), { code: 'LIGHTNING_DATABASE_CLOSED' })
})

test('the raw read functions refuse bad calls with errors, never a crash', (t) => {
  const db = new Database(tmpdir(t))
  db.putSync('k', 'v')
  const [getInto, getCached, keyBuffer] = db._fastReads()
  Buffer.from(keyBuffer).write('k')
  assert.equal(getInto(1), 1)
  for (const f of [getInto, getCached]) {
    assert.throws(() => f(), { code: 'LIGHTNING_INVALID_ARGUMENT' })
    assert.throws(() => f('1'), { code: 'LIGHTNING_INVALID_ARGUMENT' })
    assert.throws(() => f(keyBuffer.byteLength + 1), { code: 'LIGHTNING_INVALID_ARGUMENT' })
    assert.throws(() => f(0), { code: 'LIGHTNING_EMPTY_KEY' })
  }
  // The functions hold the database, not the other way round: closing it makes them throw.
  db.close()
  assert.throws(() => getInto(1), { code: 'LIGHTNING_DATABASE_CLOSED' })
  assert.throws(() => getCached(1), { code: 'LIGHTNING_DATABASE_CLOSED' })
})

test('getSync and get take every key shape: long keys, offsets, strings, wrong types', async (t) => {
  const db = new Database(tmpdir(t))
  // Keys longer than the key buffer (4 KiB) take the napi methods.
  const long = Buffer.alloc(10 * 1024, 'x')
  db.putSync(long, 'long key')
  assert.equal(db.getSync(long).toString(), 'long key')
  assert.equal((await db.get(long)).toString(), 'long key')
  const longString = 'y'.repeat(3000) // 9,000 bytes at worst: too long to write unchecked
  db.putSync(longString, 'long string key')
  assert.equal(db.getSync(longString).toString(), 'long string key')
  assert.equal((await db.get(longString)).toString(), 'long string key')
  // A view into a larger buffer: only its own bytes are the key.
  const backing = Buffer.from('__abc__')
  db.putSync('abc', 'viewed')
  assert.equal(db.getSync(backing.subarray(2, 5)).toString(), 'viewed')
  assert.equal(db.getSync(new Uint8Array(backing.buffer, backing.byteOffset + 2, 3)).toString(), 'viewed')
  assert.equal((await db.get(backing.subarray(2, 5))).toString(), 'viewed')
  // Multi-byte UTF-8 and a shorter key after a longer one (no stale bytes from the buffer).
  db.putSync('ключ-🔑', 'utf8')
  assert.equal(db.getSync('ключ-🔑').toString(), 'utf8')
  assert.equal(db.getSync('abcd'), undefined)
  assert.equal(db.getSync('ab'), undefined)
  for (const bad of [42, null, undefined, {}, [1, 2], true]) {
    assert.throws(() => db.getSync(bad), TypeError)
    await assert.rejects(() => db.get(bad), TypeError)
  }
  // Many databases at once each read their own data.
  const other = new Database(tmpdir(t))
  other.putSync('abc', 'other')
  assert.equal(db.getSync('abc').toString(), 'viewed')
  assert.equal(other.getSync('abc').toString(), 'other')
  other.close()
  db.close()
})

test('getMany and getManySync keep order and report missing keys', async (t) => {
  const db = new Database(tmpdir(t))
  db.putSync('k1', 'v1')
  db.putSync('k3', 'v3')
  const want = [Buffer.from('v1'), undefined, Buffer.from('v3')]
  assert.deepEqual(db.getManySync(['k1', 'k2', 'k3']), want)
  assert.deepEqual(await db.getMany(['k1', 'k2', 'k3']), want)
  assert.deepEqual(await db.getMany([]), [])
  db.close()
})

test('batch and batchSync are all or nothing', async (t) => {
  const db = new Database(tmpdir(t))
  db.putSync('gone', 'x')
  await db.batch([
    { type: 'put', key: 'a', value: '1' },
    { type: 'put', key: 'b', value: '2' },
    { type: 'del', key: 'gone' },
  ])
  assert.equal(db.getSync('a').toString(), '1')
  assert.equal(db.getSync('gone'), undefined)
  db.batchSync([{ type: 'del', key: 'a' }, { type: 'put', key: 'c', value: '3' }])
  // Every key and value form, multi-byte strings and empty values, sync and async.
  const forms = [
    { type: 'put', key: 'ключ', value: 'значение ✓' },
    { type: 'put', key: new Uint8Array([0, 255, 7]), value: Buffer.from([1, 2]) },
    { type: 'put', key: Buffer.from('empty'), value: '' },
    { type: 'put', key: 'u8', value: new Uint8Array(300).fill(9) },
  ]
  await db.batch(forms)
  assert.equal(db.getSync('ключ').toString(), 'значение ✓')
  assert.deepEqual(db.getSync(Buffer.from([0, 255, 7])), Buffer.from([1, 2]))
  assert.deepEqual(db.getSync('empty'), Buffer.alloc(0))
  assert.deepEqual(db.getSync('u8'), Buffer.alloc(300, 9))
  db.batchSync(forms.map((op) => ({ type: 'del', key: op.key })))
  assert.equal(db.getSync('ключ'), undefined)
  assert.equal(db.getSync('u8'), undefined)
  assert.equal(db.getSync('a'), undefined)
  assert.equal(db.getSync('c').toString(), '3')
  // One oversized value refuses the whole batch.
  const big = Buffer.alloc(2048)
  const small = new Database(tmpdir(t), { maxValueSize: 1024 })
  await rejectsWith(assert, () => small.batch([{ type: 'put', key: 'ok', value: 'v' }, { type: 'put', key: 'k', value: big }]), 'LIGHTNING_VALUE_TOO_LARGE')
  assert.throws(() => small.batchSync([{ type: 'put', key: 'ok', value: 'v' }, { type: 'put', key: 'k', value: big }]), { code: 'LIGHTNING_VALUE_TOO_LARGE' })
  assert.equal(small.getSync('ok'), undefined)
  assert.throws(() => db.batchSync([{ type: 'nope', key: 'a' }]), TypeError)
  assert.throws(() => db.batchSync([{ type: 'put', key: 'a' }]), TypeError)
  assert.throws(() => db.batchSync([{ type: 'put', key: 5, value: 'v' }]), TypeError)
  for (const bad of [null, 'ops', 5, {}, undefined]) {
    assert.throws(() => db.batchSync(bad), { name: 'TypeError', code: 'LIGHTNING_INVALID_ARGUMENT' })
    await assert.rejects(db.batch(bad), { name: 'TypeError', code: 'LIGHTNING_INVALID_ARGUMENT' })
    assert.throws(() => db.batchSync([bad]), { name: 'TypeError', code: 'LIGHTNING_INVALID_ARGUMENT' })
  }
  await db.batch([]) // an empty batch is fine
  db.batchSync([])
  small.close()
  db.close()
})

test('Database.open opens on the thread pool and reports errors as rejections', async (t) => {
  const dir = tmpdir(t)
  const db = await Database.open(dir, { durability: 'none' })
  await db.put('k', 'v')
  db.close()
  const again = await Database.open(dir)
  assert.equal(again.getSync('k').toString(), 'v')
  assert.equal(again.location, dir)
  await rejectsWith(assert, () => Database.open(dir), 'LIGHTNING_DATABASE_LOCKED')
  again.close()
})

test('data survives close and reopen', async (t) => {
  const dir = tmpdir(t)
  const db = new Database(dir, { durability: 'periodic', syncIntervalMs: 50 })
  for (let i = 0; i < 100; i++) await db.put(`k${i}`, `v${i}`)
  db.close()
  const again = new Database(dir)
  for (let i = 0; i < 100; i++) assert.equal(again.getSync(`k${i}`).toString(), `v${i}`)
  again.close()
})

test('options: every documented field is accepted, bad ones are configuration errors', async (t) => {
  const db = new Database(tmpdir(t), {
    cacheSize: 1 << 20,
    writeBufferSize: 1 << 20,
    compressionEnabled: false,
    durability: 'sync',
    maxKeySize: 128,
    maxValueSize: 4096,
    checksumAlgorithm: 'crc32',
    integrityValidationLevel: 'comprehensive',
    mmapReads: false,
    blockSize: 8192,
    bloomBitsPerKey: 12,
    memtableIndexMinVersions: 16,
    failOnCorruption: true,
    deadlockPreventionEnabled: true,
    security: { corruptionAction: 'log' },
  })
  db.putSync('k', 'v')
  db.close()
  for (const [options, why] of [
    [{ bogus: 1 }, 'unknown option'],
    [{ cacheSize: 'big' }, 'wrong type'],
    [{ durability: 'sometimes' }, 'bad durability'],
    [{ durability: 5 }, 'durability type'],
    [{ syncIntervalMs: 10 }, 'interval without periodic'],
    [{ durability: 'periodic', syncIntervalMs: -1 }, 'negative interval'],
    [{ durability: 'periodic', syncIntervalMs: 10 ** 9 }, 'interval out of range'],
    [{ checksumAlgorithm: 'md5' }, 'unknown checksum'],
    [{ blockSize: 1 }, 'block size out of range'],
    [{ maxKeySize: 0 }, 'zero key size'],
    [{ path: '/elsewhere' }, 'path is an argument'],
    ['fast', 'options not an object'],
  ]) {
    assert.throws(() => new Database(tmpdir(t), options), { code: 'LIGHTNING_CONFIGURATION_ERROR' }, why)
    await assert.rejects(Database.open(tmpdir(t), options), { code: 'LIGHTNING_CONFIGURATION_ERROR' }, why)
  }
})

test('a path that is not a string is a TypeError', async () => {
  for (const bad of [undefined, 5, {}, null]) {
    assert.throws(() => new Database(bad), { name: 'TypeError', code: 'LIGHTNING_INVALID_ARGUMENT' })
    await assert.rejects(Database.open(bad), { name: 'TypeError', code: 'LIGHTNING_INVALID_ARGUMENT' })
  }
})

test('bad keys and values throw TypeError with a code', async (t) => {
  const db = new Database(tmpdir(t))
  for (const bad of [5, null, undefined, {}, [], true, 10n, Symbol('s'), new Uint16Array(2), new ArrayBuffer(4), () => 1]) {
    assert.throws(() => db.getSync(bad), (e) => e instanceof TypeError && e.code === 'LIGHTNING_INVALID_ARGUMENT' && e.errno === 108)
    assert.throws(() => db.putSync(bad, 'v'), TypeError)
    assert.throws(() => db.putSync('k', bad), TypeError)
    assert.throws(() => db.delSync(bad), TypeError)
    // Promise-returning methods reject rather than throw.
    await assert.rejects(db.get(bad), (e) => e instanceof TypeError && e.code === 'LIGHTNING_INVALID_ARGUMENT')
    await assert.rejects(db.put('k', bad), TypeError)
    await assert.rejects(db.put(bad, 'v'), TypeError)
    await assert.rejects(db.del(bad), TypeError)
    await assert.rejects(db.getMany([bad]), TypeError)
    assert.throws(() => db.getManySync([bad]), TypeError)
    assert.throws(() => db.iterator({ gt: bad === undefined || bad === null ? 5 : bad }), TypeError)
  }
  db.close()
})

test('empty and oversized keys and values', async (t) => {
  const db = new Database(tmpdir(t), { maxKeySize: 16, maxValueSize: 64 })
  const longKey = 'k'.repeat(17)
  const bigValue = Buffer.alloc(65)
  assert.throws(() => db.putSync('', 'v'), { code: 'LIGHTNING_EMPTY_KEY', errno: errorCodes.EMPTY_KEY })
  assert.throws(() => db.getSync(''), { code: 'LIGHTNING_EMPTY_KEY' })
  assert.throws(() => db.putSync(longKey, 'v'), { code: 'LIGHTNING_KEY_TOO_LARGE', errno: 103 })
  assert.throws(() => db.putSync('k', bigValue), { code: 'LIGHTNING_VALUE_TOO_LARGE', errno: 102 })
  const e = await rejectsWith(assert, () => db.put(longKey, 'v'), 'LIGHTNING_KEY_TOO_LARGE')
  assert.equal(e.retryable, false)
  assert.match(e.suggestedAction, /16/)
  await rejectsWith(assert, () => db.put('k', bigValue), 'LIGHTNING_VALUE_TOO_LARGE')
  await rejectsWith(assert, () => db.del(''), 'LIGHTNING_EMPTY_KEY')
  await rejectsWith(assert, () => db.get(''), 'LIGHTNING_EMPTY_KEY')
  // A refused put next to accepted ones in the same turn fails alone.
  const results = await Promise.allSettled([db.put('a', '1'), db.put(longKey, 'v'), db.put('b', '2')])
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled'])
  assert.equal(db.getSync('a').toString(), '1')
  assert.equal(db.getSync('b').toString(), '2')
  assert.equal(db.getSync(longKey.slice(0, 16)), undefined)
  db.close()
})

test('a closed database answers LIGHTNING_DATABASE_CLOSED everywhere', async (t) => {
  const db = new Database(tmpdir(t))
  db.putSync('k', 'v')
  const snap = db.snapshot()
  const tx = db.beginTransaction()
  const it = db.iterator()
  db.close()
  db.close()
  const code = 'LIGHTNING_DATABASE_CLOSED'
  for (const fn of [
    () => db.getSync('k'), () => db.putSync('k', 'v'), () => db.delSync('k'), () => db.getManySync(['k']),
    () => db.batchSync([{ type: 'put', key: 'k', value: 'v' }]), () => db.iterator(), () => db.snapshot(),
    () => db.beginTransaction(), () => db.stats(), () => db.healthSync(), () => db.metrics(), () => db.prometheus(),
    () => db.flushSync(), () => db.compactSync(), () => db.syncSync(), () => db.checkSync(),
    () => snap.get('k'), () => tx.get('k'), () => tx.put('k', 'v'), () => tx.commitSync(), () => it.next(),
  ]) {
    assert.throws(fn, { code })
  }
  for (const fn of [
    () => db.get('k'), () => db.put('k', 'v'), () => db.del('k'), () => db.getMany(['k']),
    () => db.batch([{ type: 'put', key: 'k', value: 'v' }]), () => db.flush(), () => db.compact(),
    () => db.sync(), () => db.check(),
  ]) {
    await rejectsWith(assert, fn, code)
  }
})

test('errorCodes and errorTable come from the engine table', () => {
  assert.equal(errorCodes.LIGHTNING_TRANSACTION_CONFLICT, 105)
  assert.equal(errorCodes.TRANSACTION_CONFLICT, 105)
  assert.equal(errorCodes.LIGHTNING_DATABASE_CLOSED, 107)
  assert.equal(errorCodes.LIGHTNING_CONFIGURATION_ERROR, 501)
  assert.ok(errorTable.length >= 40)
  for (const row of errorTable) {
    assert.equal(row.code, `LIGHTNING_${row.name}`)
    assert.equal(errorCodes[row.code], row.errno)
    assert.equal(typeof row.description, 'string')
  }
  assert.ok(Object.isFrozen(errorCodes))
})

test('ranges whose chunks outgrow the lent chunk buffer hand them over whole', (t) => {
  const db = new Database(tmpdir(t))
  const want = []
  for (let i = 0; i < 6; i++) {
    const v = Buffer.alloc(40 * 1024 + i, 0x41 + i) // two or more per chunk exceed 64 KiB
    db.putSync(`big${i}`, v)
    want.push([Buffer.from(`big${i}`), v])
  }
  db.putSync('small', 'x')
  const all = [...db.iterator({ prefix: 'big' })]
  assert.deepEqual(all, want)
  assert.deepEqual([...db.iterator({ prefix: 'big', reverse: true })], [...want].reverse())
  assert.deepEqual([...db.values({ gte: 'big4' })].map((v) => v.length), [40 * 1024 + 4, 40 * 1024 + 5, 1])
  // A short range after the large ones reuses the iterator and its buffer.
  for (let round = 0; round < 3; round++) {
    assert.deepEqual([...db.keys({ gte: 'big5', limit: 2 })].map(String), ['big5', 'small'])
  }
  // Pairs handed out earlier are not overwritten by later chunks.
  const first = [...db.iterator({ limit: 1 })][0]
  for (const _ of db.iterator()) { /* walk everything again */ }
  assert.deepEqual(first, want[0])
  db.close()
})
