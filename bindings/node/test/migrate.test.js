'use strict'
// Format versions and migration: detectVersion, needsMigration, migrate (Promise) and
// migrateSync, the upgradeFormatOnOpen option and db.formatVersion, on a copy of the
// format 1 fixture (a database written by the release before log format 2).
const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const zlib = require('node:zlib')
const { Database, detectVersion, needsMigration, migrate, migrateSync, errorCodes } = require('lightning-db')
const { tmpdir, rejectsWith } = require('./helpers')

const FIXTURE = path.join(__dirname, '..', '..', '..', 'core', 'tests', 'fixtures', 'formats', 'v1')

function fixtureContents() {
  const pairs = new Map()
  for (const line of fs.readFileSync(path.join(FIXTURE, 'contents.txt'), 'utf8').split('\n')) {
    if (!line) continue
    const [k, v] = line.split(' ')
    pairs.set(k, v)
  }
  return pairs
}

/** Every pair of the database in `dir`, as hex strings, and its format. */
function read(dir, options) {
  const db = new Database(dir, options)
  const pairs = new Map()
  for (const [k, v] of db.iterator()) pairs.set(k.toString('hex'), v.toString('hex'))
  const version = db.formatVersion
  db.close()
  return { pairs, version }
}

/** Every file but the lock file, with its bytes. */
function files(dir) {
  const out = {}
  for (const name of fs.readdirSync(dir).sort()) {
    if (name !== 'LOCK') out[name] = fs.readFileSync(path.join(dir, name)).toString('hex')
  }
  return out
}

function oldDatabase(t) {
  const dir = path.join(tmpdir(t), 'old')
  fs.cpSync(path.join(FIXTURE, 'db'), dir, { recursive: true })
  return dir
}

test('an old database is detected and opens without changing format', (t) => {
  const dir = oldDatabase(t)
  assert.equal(detectVersion(dir), 'v1')
  assert.equal(needsMigration(dir), true)
  const db = new Database(dir)
  assert.equal(db.formatVersion, 'v1')
  db.putSync('written', 'by this release')
  db.close()
  assert.throws(() => db.formatVersion, { code: 'LIGHTNING_DATABASE_CLOSED' })
  assert.equal(detectVersion(dir), 'v1')
})

test('a dry run reports the plan, the estimate and the safety check, and changes nothing', async (t) => {
  const dir = oldDatabase(t)
  const before = files(dir)
  const plan = await migrate(dir, { dryRun: true })
  assert.equal(plan.dryRun, true)
  assert.equal(plan.from, 'v1')
  assert.equal(plan.to, 'v2')
  assert.equal(plan.path, dir)
  assert.equal(plan.steps.length, 1)
  assert.match(plan.steps[0].step, /change format/)
  assert.ok(plan.estimatedBytes > 0 && plan.estimatedSeconds >= 0)
  assert.equal(plan.backupDir, null)
  assert.deepEqual(migrateSync(dir, { dryRun: true }).steps, plan.steps)
  assert.deepEqual(files(dir), before)
})

test('migrate moves the format with progress, and back, with every pair', async (t) => {
  const dir = oldDatabase(t)
  const expected = fixtureContents()
  const heard = []
  const report = await migrate(dir, { onProgress: (p) => heard.push(p) })
  assert.equal(report.dryRun, false)
  assert.equal(report.from, 'v1')
  assert.equal(report.to, 'v2')
  assert.ok(report.bytesRewritten > 0 && typeof report.seconds === 'number')
  assert.deepEqual(report.steps.map((s) => s.tablesWritten), [1])
  assert.deepEqual(report.warnings, [])
  // Progress is queued from the thread pool: the last reports may follow the promise.
  const deadline = Date.now() + 10000
  while (!heard.some((p) => p.phase === 'done') && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  const phases = heard.map((p) => p.phase)
  assert.ok(phases.includes('rewriting') && phases.includes('switching') && phases.includes('done'), phases.join())
  for (const p of heard) {
    assert.deepEqual(Object.keys(p).sort(), ['bytesDone', 'bytesTotal', 'phase', 'step', 'stepCount', 'stepIndex'])
    assert.equal(p.stepCount, 1)
  }
  assert.ok(heard.some((p) => p.phase === 'rewriting' && p.bytesDone > 0))
  assert.equal(detectVersion(dir), 'v2')
  assert.equal(needsMigration(dir), false)
  let after = read(dir)
  assert.equal(after.version, 'v2')
  assert.deepEqual(after.pairs, expected)

  // Back to format 1 with CRC32 and uncompressed tables: three steps, synchronously.
  const back = migrateSync(dir, { to: 'v1', checksum: 'crc32', compression: false })
  assert.equal(back.from, 'v2')
  assert.equal(back.to, 'v1')
  assert.equal(back.steps.length, 3)
  after = read(dir)
  assert.equal(after.version, 'v1')
  assert.deepEqual(after.pairs, expected)
  // A number names a version too; already there, nothing to do.
  const again = await migrate(dir, { to: 1 })
  assert.deepEqual(again.steps, [])
  assert.equal(again.to, 'v1')
})

test('a backup is made before the first step', async (t) => {
  const dir = oldDatabase(t)
  const backup = path.join(tmpdir(t), 'backup')
  const before = files(dir)
  const report = await migrate(dir, { backup })
  assert.equal(report.backupDir, backup)
  assert.deepEqual(files(backup), before)
})

test('refusals keep their codes and change nothing', async (t) => {
  const dir = oldDatabase(t)
  const db = new Database(dir)
  let before = files(dir)
  const locked = await rejectsWith(assert, () => migrate(dir), 'LIGHTNING_DATABASE_LOCKED')
  assert.equal(locked.errno, errorCodes.DATABASE_LOCKED)
  assert.throws(() => migrateSync(dir), { code: 'LIGHTNING_DATABASE_LOCKED', errno: 110 })
  assert.deepEqual(files(dir), before)
  db.close()
  before = files(dir)

  // A backup directory that exists already: refused before any step, as a failed
  // migration that was rolled back (MIGRATION_FAILED, 415).
  const taken = tmpdir(t)
  const failed = await rejectsWith(assert, () => migrate(dir, { backup: taken }), 'LIGHTNING_MIGRATION_FAILED')
  assert.equal(failed.errno, 415)
  assert.match(failed.message, /rolled back/)
  assert.ok(failed.suggestedAction)
  assert.deepEqual(files(dir), before)

  await rejectsWith(assert, () => migrate(dir, { to: 'v9' }), 'LIGHTNING_INVALID_ARGUMENT')
  await rejectsWith(assert, () => migrate(dir, { checksum: 'md5' }), 'LIGHTNING_INVALID_ARGUMENT')
  const typeErr = await rejectsWith(assert, () => migrate(dir, { to: true }), 'LIGHTNING_INVALID_ARGUMENT')
  assert.ok(typeErr instanceof TypeError)
  await rejectsWith(assert, () => migrate(dir, { onProgress: 42 }), 'LIGHTNING_INVALID_ARGUMENT')
  await rejectsWith(assert, () => migrate(dir, { colour: 'blue' }), 'LIGHTNING_INVALID_ARGUMENT')
  await rejectsWith(assert, () => migrate(42), 'LIGHTNING_INVALID_ARGUMENT')
  assert.throws(() => migrateSync(dir, { onProgress: () => {} }), TypeError)
  assert.throws(() => detectVersion(tmpdir(t)), { code: 'LIGHTNING_INVALID_ARGUMENT' })
  assert.deepEqual(files(dir), before)
})

test('a throwing onProgress is reported as a warning and the migration carries on', async (t) => {
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  t.after(() => process.off('warning', onWarning))
  const dir = oldDatabase(t)
  const report = await migrate(dir, {
    onProgress: () => {
      throw new Error('progress failed')
    },
  })
  assert.equal(report.to, 'v2')
  const deadline = Date.now() + 10000
  while (warnings.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
  assert.ok(warnings.length > 0)
  assert.match(warnings[0].message, /onProgress threw: .*progress failed/)
  assert.equal(detectVersion(dir), 'v2')
})

test('upgradeFormatOnOpen moves an old database to the newest format at open', (t) => {
  const dir = oldDatabase(t)
  assert.throws(() => new Database(dir, { upgradeFormatOnOpen: 'yes' }), { code: 'LIGHTNING_CONFIGURATION_ERROR' })
  const { pairs, version } = read(dir, { upgradeFormatOnOpen: true })
  assert.equal(version, 'v2')
  assert.deepEqual(pairs, fixtureContents())
  assert.equal(detectVersion(dir), 'v2')
})

test('a format too old to read names the migration command', async (t) => {
  const dir = oldDatabase(t)
  new Database(dir).close()
  // FORMAT recording format 0, older than any release wrote: magic, record layout 1,
  // checksum algorithm 3 (CRC32), version 0, no switch, then the checksum of bytes 0..24.
  const record = Buffer.alloc(32)
  record.write('LFMT', 0, 'latin1')
  record.writeUInt16LE(1, 4)
  record[6] = 3
  record.writeBigUInt64LE(BigInt(zlib.crc32(record.subarray(0, 24))), 24)
  fs.writeFileSync(path.join(dir, 'FORMAT'), record)
  const before = files(dir)
  let err
  try {
    new Database(dir)
  } catch (e) {
    err = e
  }
  assert.ok(err, 'the open is refused')
  assert.equal(err.code, 'LIGHTNING_MIGRATION_REQUIRED')
  assert.equal(err.errno, 416)
  assert.equal(errorCodes.MIGRATION_REQUIRED, 416)
  assert.ok(err.message.includes(`lightning migrate ${dir} --to latest`), err.message)
  assert.match(err.suggestedAction, /lightning migrate/)
  assert.throws(() => detectVersion(dir), { code: 'LIGHTNING_MIGRATION_REQUIRED' })
  await rejectsWith(assert, () => migrate(dir, { dryRun: true }), 'LIGHTNING_MIGRATION_REQUIRED')
  assert.deepEqual(files(dir), before)
})
