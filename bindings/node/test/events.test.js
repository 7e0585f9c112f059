'use strict'
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const { Database } = require('lightning-db')
const { tmpdir, rejectsWith } = require('./helpers')

const pkg = path.join(__dirname, '..')

/** Resolves once `cond()` holds (events arrive on later turns of the event loop). */
async function until(cond, what) {
  const deadline = Date.now() + 10000
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Leaves 20,000 writes in the log only (closing does not flush them): the next open replays them. */
function fillLog(dir) {
  const db = new Database(dir, { durability: 'none', writeBufferSize: 8 << 20 })
  const value = Buffer.alloc(100, 7)
  // Many log records (replay progress is reported between records).
  for (let b = 0; b < 400; b++) {
    const ops = []
    for (let i = b * 50; i < (b + 1) * 50; i++) ops.push({ type: 'put', key: `key${String(i).padStart(6, '0')}`, value })
    db.batchSync(ops)
  }
  db.close()
}

function checkRecovery(events, dir) {
  const stages = events.filter((e) => e.kind === 'recovery_stage')
  const bounds = stages.filter((e) => e.phase !== 'progress').map((e) => `${e.stage}:${e.phase}`)
  const names = ['lock', 'manifest', 'log_replay', 'flush_recovered', 'verification', 'cleanup', 'start']
  assert.deepEqual(bounds, names.flatMap((n) => [`${n}:started`, `${n}:finished`]))
  const progress = stages.filter((e) => e.phase === 'progress')
  assert.ok(progress.length >= 10, `${progress.length} progress events`)
  assert.ok(progress.every((e) => e.stage === 'log_replay' && e.unit === 'bytes'))
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i].done >= progress[i - 1].done)
  const last = progress[progress.length - 1]
  assert.ok(last.total > 2000000)
  assert.equal(last.done, last.total)
  assert.ok(last.segmentsTotal >= 1)
  assert.equal(last.segmentsDone, last.segmentsTotal)
  assert.ok(stages.filter((e) => e.phase === 'finished').every((e) => e.attempts === 1))
  assert.equal(stages[0].path, dir)
  assert.equal(typeof stages[0].elapsedMs, 'number')
}

test('new Database: recovery stages with log-replay progress arrive on the JS thread', async (t) => {
  const dir = tmpdir(t)
  fillLog(dir)
  const events = []
  const db = new Database(dir, { durability: 'none', onEvent: (e) => events.push(e) })
  // Queued during the constructor, delivered on later turns.
  await until(() => events.some((e) => e.stage === 'start' && e.phase === 'finished'), 'the open to finish')
  checkRecovery(events, dir)
  assert.equal(db.getSync('key019999').length, 100)
  db.close()
})

test('Database.open: the same events, flushes and compactions too', async (t) => {
  const dir = tmpdir(t)
  fillLog(dir)
  const events = []
  const db = await Database.open(dir, { durability: 'none', writeBufferSize: 64 * 1024, onEvent: (e) => events.push(e) })
  await until(() => events.some((e) => e.stage === 'start' && e.phase === 'finished'), 'the open to finish')
  checkRecovery(events, dir)
  for (let round = 0; round < 3; round++) {
    const ops = []
    for (let i = 0; i < 300; i++) ops.push({ type: 'put', key: `k${i}`, value: Buffer.alloc(64, round) })
    await db.batch(ops)
    await db.flush()
  }
  await db.compact()
  await until(() => events.some((e) => e.kind === 'compaction_completed'), 'a compaction event')
  const flush = events.find((e) => e.kind === 'flush_completed')
  assert.ok(flush.entries > 0 && flush.bytesWritten > 0 && Array.isArray(flush.tables))
  assert.equal(typeof flush.durationMs, 'number')
  assert.equal(typeof flush.memtablesWaiting, 'number')
  const compaction = events.find((e) => e.kind === 'compaction_completed')
  assert.ok(compaction.inputs.length > 0 && 'level' in compaction.inputs[0] && 'table' in compaction.inputs[0])
  assert.equal(typeof compaction.trivialMove, 'boolean')
  db.close()
})

test('a throwing onEvent is reported as a warning and the database carries on', async (t) => {
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  t.after(() => process.off('warning', onWarning))
  let calls = 0
  const db = new Database(tmpdir(t), {
    durability: 'none',
    onEvent(event) {
      if (event.kind !== 'flush_completed') return
      calls++
      throw new RangeError('listener bug')
    },
  })
  db.putSync('k', 'v')
  await db.flush()
  await until(() => calls > 0 && warnings.length === calls, 'the warning')
  const w = warnings[0]
  assert.equal(w.name, 'LightningEventWarning')
  assert.equal(w.code, 'LIGHTNING_EVENT_LISTENER_ERROR')
  assert.match(w.message, /onEvent threw: listener bug/)
  assert.match(w.detail, /RangeError: listener bug/)
  assert.equal(db.getSync('k').toString(), 'v')
  db.close()
})

test('onEvent must be a function; it is not a configuration field', async (t) => {
  const dir = tmpdir(t)
  assert.throws(() => new Database(dir, { onEvent: 'log' }), (err) => {
    assert.ok(err instanceof TypeError)
    assert.equal(err.code, 'LIGHTNING_INVALID_ARGUMENT')
    assert.match(err.message, /onEvent must be a function, got string/)
    return true
  })
  const err = await rejectsWith(assert, () => Database.open(dir, { onEvent: 5 }), 'LIGHTNING_INVALID_ARGUMENT')
  assert.ok(err instanceof TypeError)
  // Other options are still read and checked next to it.
  await rejectsWith(assert, () => Database.open(dir, { onEvent() {}, bogus: 1 }), 'LIGHTNING_CONFIGURATION_ERROR')
  assert.throws(() => new Database(dir, { onEvent() {}, cacheSize: 'big' }), { code: 'LIGHTNING_CONFIGURATION_ERROR' })
  const db = new Database(dir, { onEvent: undefined, durability: 'none' })
  db.close()
  const db2 = await Database.open(dir, { onEvent: null })
  db2.close()
})

test('a failed open delivers the failed stage', async (t) => {
  const dir = tmpdir(t)
  const holder = new Database(dir, { durability: 'none' })
  const events = []
  await rejectsWith(assert, () => Database.open(dir, { onEvent: (e) => events.push(e) }), 'LIGHTNING_DATABASE_LOCKED')
  await until(() => events.length >= 2, 'the lock stage')
  assert.deepEqual(events.map((e) => `${e.stage}:${e.phase}`), ['lock:started', 'lock:failed'])
  assert.ok(events[1].error)
  holder.close()
})

test('nothing is queued after close', async (t) => {
  const events = []
  const db = new Database(tmpdir(t), { durability: 'none', onEvent: (e) => events.push(e) })
  db.putSync('k', 'v')
  await db.flush()
  await until(() => events.some((e) => e.kind === 'flush_completed'), 'the flush event')
  db.close()
  // Let anything queued before close arrive, then nothing more does.
  await new Promise((resolve) => setTimeout(resolve, 20))
  const heard = events.length
  await new Promise((resolve) => setTimeout(resolve, 50))
  assert.equal(events.length, heard)
})

test('onEvent never keeps the process alive, closed or not', () => {
  for (const close of [true, false]) {
    const code = `
      const { Database } = require('./lightning.js')
      const db = new Database(process.argv[1], { durability: 'none', writeBufferSize: 64 * 1024, onEvent: () => {} })
      for (let i = 0; i < 5000; i++) db.putSync('k' + i, 'x'.repeat(100))
      ${close ? 'db.close()' : ''}
      console.log('done')
    `
    const dir = tmpdir()
    const r = spawnSync(process.execPath, ['-e', code, path.join(dir, 'db')], { cwd: pkg, encoding: 'utf8', timeout: 30000 })
    assert.equal(r.status, 0, `child (close: ${close}) failed: ${r.error || r.stderr}`)
    assert.equal(r.stdout.trim(), 'done')
  }
})

test('recoveryState tells how the open recovered', async (t) => {
  const dir = tmpdir(t)
  fillLog(dir)
  const db = new Database(dir, { durability: 'none' })
  const state = db.recoveryState()
  assert.equal(state.complete, true)
  assert.equal(state.failed, false)
  assert.equal(state.canRollback, false)
  assert.equal(state.progress, 100)
  assert.equal(state.stage, null)
  assert.deepEqual(state.completedStages, ['lock', 'manifest', 'log_replay', 'flush_recovered', 'verification', 'cleanup', 'start'])
  assert.ok(state.replayedSegments.total >= 1)
  assert.equal(state.replayedSegments.done, state.replayedSegments.total)
  assert.deepEqual(state.failedStages, [])
  assert.ok(state.elapsedMs > 0)
  db.close()
  assert.throws(() => db.recoveryState(), { code: 'LIGHTNING_DATABASE_CLOSED' })
})
