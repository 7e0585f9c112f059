'use strict'
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { Database } = require('lightning-db')
const { tmpdir, rejectsWith } = require('./helpers')

test('transaction(fn) commits on success and rolls back on throw', async (t) => {
  const db = new Database(tmpdir(t))
  const result = await db.transaction(async (tx) => {
    tx.put('a', '1')
    assert.equal(tx.get('a').toString(), '1') // own writes are visible
    assert.equal(db.getSync('a'), undefined) // others do not see them yet
    return 42
  })
  assert.equal(result, 42)
  assert.equal(db.getSync('a').toString(), '1')
  const boom = new Error('boom')
  await assert.rejects(db.transaction(async (tx) => {
    tx.put('b', '2')
    tx.del('a')
    throw boom
  }), (e) => e === boom)
  assert.equal(db.getSync('b'), undefined)
  assert.equal(db.getSync('a').toString(), '1')
  db.close()
})

test('explicit transactions: get/put/del/iterator/commit/rollback', async (t) => {
  const db = new Database(tmpdir(t))
  db.putSync('a', '1')
  db.putSync('c', '3')
  const tx = db.beginTransaction()
  assert.equal(tx.isActive, true)
  tx.put('b', '2')
  tx.del('c')
  assert.deepEqual(await tx.get('b'), tx.getSync('b'))
  assert.deepEqual(tx.iterator().all().map(([k, v]) => `${k}=${v}`), ['a=1', 'b=2'])
  assert.deepEqual(tx.keys({ reverse: true }).all().map(String), ['b', 'a'])
  await tx.commit()
  assert.equal(tx.isActive, false)
  assert.equal(db.getSync('b').toString(), '2')
  assert.equal(db.getSync('c'), undefined)

  const tx2 = db.beginTransaction()
  tx2.put('z', '26')
  tx2.rollback()
  tx2.rollback()
  assert.equal(db.getSync('z'), undefined)

  const tx3 = db.beginTransaction()
  tx3.put('y', '25')
  tx3.commitSync()
  assert.equal(db.getSync('y').toString(), '25')
  db.close()
})

test('a transaction used after commit or rollback throws a coded error', async (t) => {
  const db = new Database(tmpdir(t))
  const tx = db.beginTransaction()
  tx.put('k', 'v')
  await tx.commit()
  const code = 'LIGHTNING_INVALID_ARGUMENT'
  assert.throws(() => tx.get('k'), { code })
  assert.throws(() => tx.put('k', 'v'), { code })
  assert.throws(() => tx.del('k'), { code })
  assert.throws(() => tx.iterator(), { code })
  assert.throws(() => tx.commitSync(), { code })
  await rejectsWith(assert, () => tx.commit(), code)
  const rolled = db.beginTransaction()
  rolled.rollback()
  assert.throws(() => rolled.put('k', 'v'), { code })
  db.close()
})

test('conflicts reject with a retryable LIGHTNING_TRANSACTION_CONFLICT', async (t) => {
  const db = new Database(tmpdir(t))
  db.putSync('counter', '0')
  const a = db.beginTransaction()
  const b = db.beginTransaction()
  a.put('counter', String(Number(a.get('counter')) + 1))
  b.put('counter', String(Number(b.get('counter')) + 1))
  await a.commit()
  const err = await rejectsWith(assert, () => b.commit(), 'LIGHTNING_TRANSACTION_CONFLICT')
  assert.equal(err.retryable, true)
  assert.equal(err.errno, 105)
  assert.equal(typeof err.suggestedAction, 'string')
  assert.equal(db.getSync('counter').toString(), '1')
  assert.ok(db.stats().transactionConflicts >= 1)
  db.close()
})

test('concurrent increments with retries count exactly', async (t) => {
  const db = new Database(tmpdir(t), { durability: 'none' })
  db.putSync('n', '0')
  let retries = 0
  const increment = async () => {
    for (;;) {
      try {
        await db.transaction(async (tx) => {
          const n = Number(tx.get('n'))
          await new Promise((r) => setImmediate(r)) // let other transactions interleave
          tx.put('n', String(n + 1))
        })
        return
      } catch (err) {
        if (!err.retryable) throw err
        retries++
      }
    }
  }
  await Promise.all(Array.from({ length: 50 }, increment))
  assert.equal(db.getSync('n').toString(), '50')
  assert.ok(retries > 0, 'interleaved transactions should have conflicted')
  db.close()
})

test('pessimistic transactions lock keys; a second locker times out', async (t) => {
  const db = new Database(tmpdir(t))
  const a = db.beginTransaction({ pessimistic: true })
  a.put('k', 'a')
  const b = db.beginTransaction({ pessimistic: true, lockTimeoutMs: 50 })
  const err = (() => { try { b.put('k', 'b') } catch (e) { return e } })()
  assert.ok(err && (err.code === 'LIGHTNING_LOCK_TIMEOUT' || err.code === 'LIGHTNING_DEADLOCK_DETECTED'), err && err.code)
  assert.equal(err.retryable, true)
  await a.commit()
  // b is marked failed by the refused put and refuses to commit.
  await assert.rejects(b.commit(), { code: err.code })
  assert.equal(db.getSync('k').toString(), 'a')
  const c = db.beginTransaction({ pessimistic: true })
  c.put('k', 'c')
  await c.commit()
  assert.equal(db.getSync('k').toString(), 'c')
  db.close()
})

test('oversized writes in a transaction fail it', async (t) => {
  const db = new Database(tmpdir(t), { maxKeySize: 8 })
  const tx = db.beginTransaction()
  tx.put('ok', 'v')
  assert.throws(() => tx.put('much-too-long', 'v'), { code: 'LIGHTNING_KEY_TOO_LARGE' })
  assert.throws(() => tx.put(42, 'v'), TypeError)
  await rejectsWith(assert, () => tx.commit(), 'LIGHTNING_KEY_TOO_LARGE')
  assert.equal(db.getSync('ok'), undefined)
  db.close()
})
