'use strict'
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync, spawn } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { Database } = require('lightning-db')
const { tmpdir, rejectsWith } = require('./helpers')

const pkg = path.join(__dirname, '..')

function runChild(code, ...args) {
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', code, ...args], { cwd: pkg, encoding: 'utf8' })
  assert.equal(r.status, 0, `child failed: ${r.stderr}`)
  return r.stdout.trim()
}

test('a timer keeps firing while a long durable batch commits on the thread pool', async (t) => {
  const db = new Database(tmpdir(t)) // durability 'sync'
  const value = Buffer.alloc(1024, 7)
  const ops = []
  for (let i = 0; i < 100000; i++) ops.push({ type: 'put', key: `key${i}`, value })
  let ticks = 0
  const timer = setInterval(() => ticks++, 1)
  const started = process.hrtime.bigint()
  // Two batches of 100 MB each, written and synced: long enough for many timer ticks.
  for (let round = 0; round < 2; round++) await db.batch(ops)
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6
  clearInterval(timer)
  assert.ok(elapsedMs > 20, `batch took ${elapsedMs} ms`)
  // The event loop was free: a 1 ms timer fired for a good share of the elapsed time.
  assert.ok(ticks >= Math.min(10, elapsedMs / 10), `only ${ticks} ticks in ${elapsedMs} ms`)
  assert.equal(db.getSync('key99999').length, 1024)
  db.close()
})

test('2,000 concurrent promises: exact results', async (t) => {
  const db = new Database(tmpdir(t))
  const n = 2000
  await Promise.all(Array.from({ length: n }, (_, i) => db.put(`k${i}`, `v${i}`)))
  const got = await Promise.all(Array.from({ length: n }, (_, i) => db.get(`k${i}`)))
  got.forEach((v, i) => assert.equal(v.toString(), `v${i}`))
  // Mixed puts, deletes and reads in one turn apply in call order.
  const mixed = []
  for (let i = 0; i < n; i++) {
    if (i % 3 === 0) mixed.push(db.del(`k${i}`))
    else if (i % 3 === 1) mixed.push(db.put(`k${i}`, `w${i}`))
    else mixed.push(db.getMany([`k${i}`]))
  }
  const results = await Promise.all(mixed)
  results.forEach((r, i) => {
    if (i % 3 === 0) assert.equal(r, true)
    else if (i % 3 === 1) assert.equal(r, undefined)
    else assert.equal(r[0].toString(), `v${i}`)
  })
  for (let i = 0; i < n; i++) {
    const v = db.getSync(`k${i}`)
    if (i % 3 === 0) assert.equal(v, undefined)
    else if (i % 3 === 1) assert.equal(v.toString(), `w${i}`)
    else assert.equal(v.toString(), `v${i}`)
  }
  // Puts then a delete of the same key in one turn: the delete wins.
  const order = [db.put('same', '1'), db.put('same', '2'), db.del('same'), db.put('other', 'x')]
  const [, , existed] = await Promise.all(order)
  assert.equal(existed, true)
  assert.equal(db.getSync('same'), undefined)
  // Concurrent transactions and batches as well.
  await Promise.all(Array.from({ length: 200 }, (_, i) => db.batch([{ type: 'put', key: `b${i}`, value: 'x' }])))
  assert.equal(db.keys({ prefix: 'b' }).all().length, 200)
  db.close()
})

test('a database locked by another process is refused with LIGHTNING_DATABASE_LOCKED', async (t) => {
  const dir = tmpdir(t)
  const child = spawn(process.execPath, ['-e', `
    const { Database } = require('lightning-db')
    const db = new Database(process.argv[1])
    process.stdout.write('ready\\n')
    process.stdin.on('data', () => { db.close(); process.exit(0) })
  `, dir], { cwd: pkg, stdio: ['pipe', 'pipe', 'inherit'] })
  await new Promise((resolve) => child.stdout.once('data', resolve))
  assert.throws(() => new Database(dir), { code: 'LIGHTNING_DATABASE_LOCKED', errno: 110 })
  await rejectsWith(assert, () => Database.open(dir), 'LIGHTNING_DATABASE_LOCKED')
  child.stdin.write('x')
  await new Promise((resolve) => child.on('exit', resolve))
  const db = new Database(dir)
  db.close()
})

test('an unclosed database is closed at process exit without losing periodic writes', (t) => {
  const dir = tmpdir(t)
  runChild(`
    const { Database } = require('lightning-db')
    const db = new Database(process.argv[1], { durability: 'periodic', syncIntervalMs: 60000 })
    ;(async () => {
      for (let i = 0; i < 500; i++) await db.put('k' + i, 'v' + i)
      db.putSync('last', 'yes')
      // no close(): the exit hook syncs and closes
    })()
  `, dir)
  const db = new Database(dir)
  assert.equal(db.getSync('last').toString(), 'yes')
  assert.equal(db.keys({ prefix: 'k' }).all().length, 500)
  db.close()
})

test('process.exit() also closes unclosed databases', (t) => {
  const dir = tmpdir(t)
  runChild(`
    const { Database } = require('lightning-db')
    const db = new Database(process.argv[1], { durability: 'none' })
    db.putSync('k', 'v')
    process.exit(0)
  `, dir)
  const db = new Database(dir)
  assert.equal(db.getSync('k').toString(), 'v')
  assert.equal(db.stats().recovery.tornTailBytesTruncated, 0)
  db.close()
})

test('a Database dropped without close is closed when garbage-collected', (t) => {
  const dir = tmpdir(t)
  const out = runChild(`
    const { Database } = require('lightning-db')
    const dir = process.argv[1]
    ;(() => { const db = new Database(dir); db.putSync('k', 'v') })()
    ;(async () => {
      for (let i = 0; i < 20; i++) { global.gc(); await new Promise((r) => setTimeout(r, 10)) }
      // The lock was released by the finalizer, so this open succeeds in the same process.
      const again = new Database(dir)
      process.stdout.write(again.getSync('k').toString())
      again.close()
    })()
  `, dir)
  assert.equal(out, 'v')
})

test('flush, compact, sync, check, stats, health, prometheus and metrics', async (t) => {
  const db = new Database(tmpdir(t), { durability: 'periodic' })
  for (let i = 0; i < 1000; i++) await db.put(`k${i}`, `v${i}`)
  for (let i = 0; i < 500; i++) db.delSync(`k${i}`)
  await db.sync()
  await db.flush()
  await db.compact()
  db.flushSync()
  db.compactSync()
  db.syncSync()
  const stats = db.stats()
  assert.ok(stats.tableFiles >= 1)
  assert.ok(stats.flushes >= 1)
  assert.ok(stats.compactions >= 1)
  assert.ok(Array.isArray(stats.levels))
  const report = await db.check('paranoid')
  assert.deepEqual(report.problems, [])
  assert.ok(report.filesChecked >= 1)
  assert.ok(report.entriesChecked >= 500)
  assert.equal(db.checkSync().problems.length, 0)
  assert.equal((await db.check()).level, 'Comprehensive')
  await assert.rejects(db.check('thorough'), { code: 'LIGHTNING_INVALID_ARGUMENT' })
  assert.throws(() => db.checkSync('thorough'), { code: 'LIGHTNING_INVALID_ARGUMENT' })
  const health = await db.health()
  assert.deepEqual(health.checks.map((c) => c.name), ['integrity', 'resources', 'performance'])
  assert.deepEqual(health.checks[0].status, { status: 'healthy' })
  assert.equal(health.checks[0].criticality, 'critical')
  assert.equal(health.checks[0].remediation, null)
  assert.equal(typeof health.checks[0].checkedAt, 'number')
  assert.ok(Math.abs(health.checks[0].checkedAt - Date.now()) < 3_600_000, 'milliseconds since the epoch')
  assert.equal(health.engine.state, 'healthy')
  assert.ok(health.engine.checks.some((c) => c.name === 'writes'))
  assert.equal(db.healthSync().rounds, health.rounds + 1)
  const text = db.prometheus()
  assert.match(text, /^# HELP lightning_/m)
  assert.match(text, /lightning_\w+ \d/)
  assert.match(text, /# TYPE lightning_write_latency_seconds summary/)
  const s = db.stats()
  assert.equal(s.deletes, 500)
  assert.ok(s.batches >= 1) // async puts are committed as batches
  assert.ok(s.writeGroups >= 1) // (walSyncs counts commit syncs only; none under 'periodic')
  assert.ok(s.flushes >= 1)
  db.close()
})

test('a panic inside the module becomes LIGHTNING_INTERNAL, sync and async', async (t) => {
  const native = require('../index.js')
  assert.throws(() => native._testPanic(), { code: 'LIGHTNING_INTERNAL', errno: 112 })
  const db = new Database(tmpdir(t))
  await rejectsWith(assert, () => db._testPanicAsync(), 'LIGHTNING_INTERNAL')
  // The database still works afterwards.
  await db.put('k', 'v')
  assert.equal(db.getSync('k').toString(), 'v')
  db.close()
})

test('a worker thread can use the module; its unclosed database is closed when it exits', async (t) => {
  const { Worker } = require('node:worker_threads')
  const dir = tmpdir(t)
  const worker = new Worker(`
    const { workerData, parentPort } = require('node:worker_threads')
    const { Database } = require(workerData.pkg)
    const db = new Database(workerData.dir, { durability: 'periodic', syncIntervalMs: 60000 })
    db.put('from-worker', 'yes').then(() => parentPort.postMessage('written'))
  `, { eval: true, workerData: { dir, pkg } })
  const msg = await new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  assert.equal(msg, 'written')
  await worker.terminate()
  const db = new Database(dir) // the lock was released by the worker's cleanup hook
  assert.equal(db.getSync('from-worker').toString(), 'yes')
  db.close()
})

test('metrics: the reference fields, moving with the work done', async (t) => {
  const db = new Database(tmpdir(t), { durability: 'none' })
  const empty = db.metrics()
  assert.equal(empty.operations, 0)
  assert.equal(empty.readLatencyP50, 0)
  const fields = ['readLatencyP50', 'readLatencyP95', 'readLatencyP99', 'writeLatencyP50',
    'writeLatencyP95', 'writeLatencyP99', 'readThroughput', 'writeThroughput',
    'mixedWorkloadThroughput', 'cacheHitRate', 'memoryUsage', 'diskUsage', 'cpuUsage',
    'errorRate', 'availability', 'recoveryTime']
  for (const f of fields) assert.equal(typeof empty[f], 'number', f)
  for (let i = 0; i < 200; i++) db.putSync(`k${i}`, 'v'.repeat(100))
  db.flushSync()
  for (let i = 0; i < 1600; i++) assert.ok(db.getSync(`k${i % 200}`))
  const m = db.metrics()
  assert.equal(m.operations, 1800)
  assert.ok(m.readThroughput > 0 && m.writeThroughput > 0)
  assert.ok(m.readLatencyP50 > 0 && m.readLatencyP50 <= m.readLatencyP99)
  assert.ok(m.writeLatencyP50 > 0 && m.writeLatencyP50 <= m.writeLatencyP99)
  assert.ok(m.diskUsage > empty.diskUsage)
  assert.equal(m.availability, 1)
  assert.equal(m.errorRate, 0)
  assert.equal(typeof m.meetsSla, 'boolean')
  assert.ok(m.performanceScore > 0 && m.performanceScore <= 100)
  assert.ok(Array.isArray(m.bottlenecks))
  assert.equal(m.sla.maxReadLatencyP99, 10, 'milliseconds')
  db.close()
})

test('health: a table corrupted under the open database is critical, with its remedy', async (t) => {
  const dir = tmpdir(t)
  const db = new Database(dir, { durability: 'none', failOnCorruption: false })
  for (let i = 0; i < 2000; i++) db.putSync(`key${String(i).padStart(6, '0')}`, 'x'.repeat(50))
  db.flushSync()
  const table = fs.readdirSync(dir).filter((n) => n.endsWith('.sst'))
    .map((n) => path.join(dir, n))
    .sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0]
  const bytes = fs.readFileSync(table)
  bytes[100] ^= 0x5a
  fs.writeFileSync(table, bytes)
  const health = await db.health()
  assert.equal(health.state, 'critical')
  const integrity = health.checks[0]
  assert.equal(integrity.status.status, 'critical')
  assert.ok(integrity.status.message.includes(path.basename(table)), integrity.status.message)
  assert.match(integrity.remediation, /lightning repair/)
  db.close()
  await assert.rejects(db.health(), { code: 'LIGHTNING_DATABASE_CLOSED' })
})

test('the database runs its own checks with enableHealthMonitoring', async (t) => {
  const db = new Database(tmpdir(t), {
    enableHealthMonitoring: true,
    reliability: { healthCheckInterval: '20ms', healthCheckTimeout: '20ms' },
  })
  const deadline = Date.now() + 30_000
  while (db.healthSync().rounds < 3) {
    assert.ok(Date.now() < deadline, 'the monitoring thread never ran')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  db.close()
})
