'use strict'
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { Database } = require('lightning-db')
const { tmpdir } = require('./helpers')

const key = (i) => `k${String(i).padStart(3, '0')}`

function filled(t, n = 100) {
  const db = new Database(tmpdir(t), { durability: 'none' })
  const ops = []
  for (let i = 0; i < n; i++) ops.push({ type: 'put', key: key(i), value: `v${i}` })
  db.batchSync(ops)
  return db
}

const keysOf = (it) => Array.from(it, ([k]) => k.toString())
const range = (a, b) => Array.from({ length: Math.max(0, b - a) }, (_, i) => key(a + i))

test('every bound, both directions, limits and prefixes', (t) => {
  const db = filled(t)
  const cases = [
    [{}, range(0, 100)],
    [{ gt: key(10) }, range(11, 100)],
    [{ gte: key(10) }, range(10, 100)],
    [{ lt: key(20) }, range(0, 20)],
    [{ lte: key(20) }, range(0, 21)],
    [{ gte: key(10), lt: key(20) }, range(10, 20)],
    [{ gt: key(10), lte: key(20) }, range(11, 21)],
    [{ gt: key(10), gte: key(5) }, range(11, 100)], // gt wins over gte
    [{ lt: key(10), lte: key(50) }, range(0, 10)], // lt wins over lte
    [{ gte: key(50), lt: key(10) }, []], // inverted
    [{ gte: 'zzz' }, []],
    [{ limit: 5 }, range(0, 5)],
    [{ limit: 0 }, []],
    [{ limit: -1 }, range(0, 100)],
    [{ limit: Infinity }, range(0, 100)],
    [{ prefix: 'k05' }, range(50, 60)],
    [{ prefix: 'k05', gt: key(55) }, range(56, 60)],
    [{ prefix: 'k05', lt: key(53) }, range(50, 53)],
    [{ prefix: 'nothing' }, []],
    [{ prefix: Buffer.from('k09'), limit: 3 }, range(90, 93)],
  ]
  for (const [opts, want] of cases) {
    assert.deepEqual(keysOf(db.iterator(opts)), want, JSON.stringify(opts))
    // Reverse: the same range from the other end, cut at the limit.
    const unlimited = keysOf(db.iterator({ ...opts, limit: undefined }))
    const cut = opts.limit === undefined || opts.limit < 0 ? undefined : opts.limit
    assert.deepEqual(keysOf(db.iterator({ ...opts, reverse: true })), unlimited.reverse().slice(0, cut), `reverse ${JSON.stringify(opts)}`)
  }
  db.close()
})

test('keys(), values() and pairs carry the right bytes', async (t) => {
  const db = filled(t, 10)
  assert.deepEqual(db.keys({ lt: key(3) }).all().map(String), [key(0), key(1), key(2)])
  assert.deepEqual(db.values({ lt: key(3), reverse: true }).all().map(String), ['v2', 'v1', 'v0'])
  const pairs = db.iterator({ gte: key(8) }).all()
  assert.deepEqual(pairs, [[Buffer.from(key(8)), Buffer.from('v8')], [Buffer.from(key(9)), Buffer.from('v9')]])
  const seen = []
  for await (const [k, v] of db.iterator({ reverse: true, limit: 2 })) seen.push(`${k}=${v}`)
  assert.deepEqual(seen, [`${key(9)}=v9`, `${key(8)}=v8`])
  const asyncKeys = []
  for await (const k of db.keys({ prefix: key(0) })) asyncKeys.push(k.toString())
  assert.deepEqual(asyncKeys, [key(0)])
  db.close()
})

test('iterators read their snapshot while the database is written', async (t) => {
  const db = filled(t, 2000)
  const it = db.iterator()
  const first = it.next().value[0].toString()
  assert.equal(first, key(0))
  await db.put(key(0) + 'x', 'new')
  for (let i = 0; i < 2000; i += 2) db.delSync(key(i))
  await db.flush()
  const rest = keysOf(it)
  assert.equal(rest.length, 1999)
  assert.ok(!rest.includes(key(0) + 'x'))
  // A new iterator sees the changes.
  assert.equal(keysOf(db.iterator()).length, 1001)
  db.close()
})

test('close() and return() end an iterator early; break releases it', (t) => {
  const db = filled(t, 100)
  const it = db.iterator()
  it.next()
  it.close()
  assert.deepEqual(it.next(), { value: undefined, done: true })
  const it2 = db.keys()
  assert.deepEqual(it2.return(), { value: undefined, done: true })
  assert.equal(it2.next().done, true)
  let n = 0
  for (const _ of db.iterator()) if (++n === 3) break
  assert.equal(n, 3)
  db.close()
})

test('large scans stream in chunks, in order, both ways', (t) => {
  const db = new Database(tmpdir(t), { durability: 'none', writeBufferSize: 1 << 20 })
  const n = 20000
  for (let start = 0; start < n; start += 1000) {
    const ops = []
    for (let i = start; i < start + 1000; i++) ops.push({ type: 'put', key: `key${String(i).padStart(6, '0')}`, value: Buffer.alloc(50, i % 251) })
    db.batchSync(ops)
  }
  db.flushSync()
  let count = 0
  let prev = null
  for (const [k, v] of db.iterator()) {
    if (prev) assert.ok(Buffer.compare(prev, k) < 0)
    assert.equal(v.length, 50)
    prev = k
    count++
  }
  assert.equal(count, n)
  assert.equal(db.keys({ reverse: true }).all().length, n)
  assert.equal(db.keys({ reverse: true }).next().value.toString(), `key${String(n - 1).padStart(6, '0')}`)
  db.close()
})

test('snapshots read at one point in time', (t) => {
  const db = filled(t, 10)
  const snap = db.snapshot()
  db.putSync(key(0), 'changed')
  db.delSync(key(1))
  assert.equal(snap.get(key(0)).toString(), 'v0')
  assert.equal(snap.getSync(key(1)).toString(), 'v1')
  assert.equal(db.getSync(key(0)).toString(), 'changed')
  assert.equal(snap.iterator().all().length, 10)
  assert.deepEqual(snap.keys({ gte: key(8), reverse: true }).all().map(String), [key(9), key(8)])
  assert.equal(typeof snap.sequence, 'number')
  snap.close()
  snap.close()
  assert.throws(() => snap.get(key(0)), { code: 'LIGHTNING_DATABASE_CLOSED' })
  db.close()
})

test('a finished iterator leaves nothing shared with the ranges made after it', (t) => {
  // The database reuses a finished iterator's native half for its next range: the old JS
  // iterator must not reach it (close() or next() on it), and each range reads its own view.
  const db = filled(t, 30)
  const first = db.iterator({ gte: key(5), limit: 3 })
  assert.deepEqual(keysOf(first), range(5, 8))
  const second = db.keys({ gte: key(10), lt: key(14) })
  first.close() // must not end `second`
  assert.deepEqual(first.next(), { value: undefined, done: true })
  assert.deepEqual(Array.from(second, (k) => k.toString()), range(10, 14))
  db.putSync(key(40), 'new')
  assert.deepEqual(keysOf(db.iterator({ gte: key(29) })), [key(29), key(40)])
  // An early break (return() and close()) hands it back too; reverse, prefix, values.
  for (const _ of db.iterator()) break
  assert.deepEqual(keysOf(db.iterator({ reverse: true, limit: 2 })), [key(40), key(29)])
  assert.deepEqual(keysOf(db.iterator({ prefix: 'k02' })), range(20, 30))
  assert.deepEqual(Array.from(db.values({ gte: key(3), limit: 1 }), String), ['v3'])
  // Bad options throw and leave the next range working.
  assert.throws(() => db.iterator({ gte: 12 }), TypeError)
  assert.throws(() => db.iterator({ limit: 'x' }), TypeError)
  assert.deepEqual(keysOf(db.iterator({ lt: key(2) })), range(0, 2))
  // Two iterators alive at once each keep their own native half.
  const a = db.keys({ gte: key(0), limit: 2 })
  const b = db.keys({ gte: key(20), limit: 2 })
  assert.deepEqual([a.next().value.toString(), b.next().value.toString()], [key(0), key(20)])
  assert.deepEqual([a.next().value.toString(), b.next().value.toString()], [key(1), key(21)])
  db.close()
  assert.throws(() => db.iterator(), (e) => e.code === 'LIGHTNING_DATABASE_CLOSED')
})
