// Compiled with `tsc --noEmit --strict` against the shipped declarations (never run): it
// checks that the documented API type-checks and that misuse does not.
import {
  Database,
  errorCodes,
  errorTable,
  type DatabaseOptions,
  type LightningError,
  type RangeIterator,
  type Transaction,
  type IntegrityReport,
  type HealthReport,
  type HealthSummary,
  type PerformanceMetrics,
  type PerformanceBottleneck,
  type Key,
  type DatabaseEvent,
  type FormatVersion,
  type MigrationReport,
  type MigrationProgress,
  detectVersion,
  needsMigration,
  migrate,
  migrateSync,
  encryptDatabase,
  encryptDatabaseSync,
  decryptDatabase,
  decryptDatabaseSync,
} from 'lightning-db'

async function main(): Promise<void> {
  const options: DatabaseOptions = { durability: 'periodic', syncIntervalMs: 100, cacheSize: 1 << 20, checksumAlgorithm: 'blake3' }
  const db: Database = new Database('/tmp/x', options)
  const db2: Database = await Database.open('/tmp/y')
  const key: Key = new Uint8Array([1])
  const a: Buffer | undefined = db.getSync('k')
  const b: Buffer | undefined = await db.get(Buffer.from('k'))
  const many: Array<Buffer | undefined> = db.getManySync(['a', key])
  const many2: Array<Buffer | undefined> = await db.getMany(['a'])
  await db.put('k', 'v')
  db.putSync(key, Buffer.from('v'))
  const existed: boolean = await db.del('k')
  const existed2: boolean = db.delSync('k')
  await db.batch([{ type: 'put', key: 'a', value: 'b' }, { type: 'del', key: 'a' }])
  db.batchSync([{ type: 'del', key: 'a' }])
  const it: RangeIterator<[Buffer, Buffer]> = db.iterator({ gte: 'a', lt: 'z', reverse: true, limit: 10 })
  for (const [k, v] of it) console.log(k.length + v.length)
  for await (const [k] of db.iterator({ prefix: 'user:' })) console.log(k.toString())
  const ks: Buffer[] = db.keys({ gt: 'a' }).all()
  const vs: RangeIterator<Buffer> = db.values()
  vs.close()
  const n: number = await db.transaction(async (tx: Transaction) => {
    const v: Buffer | undefined = tx.get('counter')
    tx.put('counter', String(Number(v ?? 0) + 1))
    tx.del('old')
    return 1
  })
  const tx = db.beginTransaction({ pessimistic: true, lockTimeoutMs: 100 })
  tx.iterator({ lte: 'm' }).all()
  await tx.commit()
  db.beginTransaction().commitSync()
  db.beginTransaction().rollback()
  const snap = db.snapshot()
  const s: Buffer | undefined = snap.get('k')
  snap.keys().all()
  const seq: number = snap.sequence
  snap.close()
  await db.flush()
  await db.compact()
  await db.sync()
  const report: IntegrityReport = await db.check('paranoid')
  const problems: number = report.problems.length
  const health: HealthReport = await db.health()
  const healthNow: HealthReport = db.healthSync()
  const action: string | null = health.checks[0].remediation
  const engine: HealthSummary | null = healthNow.engine
  const metrics: PerformanceMetrics = db.metrics()
  const p99: number = metrics.readLatencyP99
  const verdict: boolean = metrics.meetsSla
  const slow: PerformanceBottleneck[] = metrics.bottlenecks
  const text: string = db.prometheus()
  const stats: Record<string, unknown> = db.stats()
  const conflict: number = errorCodes.LIGHTNING_TRANSACTION_CONFLICT
  const rows: number = errorTable.length
  try {
    await db.put('k', 'v')
  } catch (e) {
    const err = e as LightningError
    const fields: [string, number, boolean, string | null] = [err.code, err.errno, err.retryable, err.suggestedAction]
    console.log(fields)
  }
  db.close()
  db2.close()
  console.log(a, b, many, many2, existed, existed2, ks, n, s, seq, problems, health.state, metrics.operations, text, stats, conflict, rows)

  // Events: a discriminated union on `kind`.
  const watched = await Database.open('/tmp/w', {
    durability: 'none',
    onEvent: (event: DatabaseEvent) => {
      if (event.kind === 'recovery_stage' && event.stage === 'log_replay') console.log(event.done / event.total)
      if (event.kind === 'flush_completed') console.log(event.tables.length, event.bytesWritten)
    },
  })
  watched.close()
  // @ts-expect-error onEvent is a function
  new Database('/tmp/z', { onEvent: 'log' })
  new Database('/tmp/z', {
    onEvent: (event) => {
      // @ts-expect-error a flush event has no `stage`
      if (event.kind === 'flush_completed') console.log(event.stage)
    },
  })

  // Format versions and migration.
  const version: FormatVersion = detectVersion('/tmp/old')
  const old: boolean = needsMigration('/tmp/old')
  const plan: MigrationReport = await migrate('/tmp/old', { dryRun: true, to: 'latest' })
  const estimate: number | undefined = plan.estimatedSeconds
  const done: MigrationReport = await migrate('/tmp/old', {
    to: 2,
    checksum: 'crc32',
    compression: false,
    backup: '/tmp/backup',
    onProgress: (p: MigrationProgress) => console.log(p.phase, p.bytesDone / p.bytesTotal),
  })
  const back: MigrationReport = migrateSync('/tmp/old', { to: 'v1' })
  const opened = new Database('/tmp/old', { upgradeFormatOnOpen: true })
  const format: FormatVersion = opened.formatVersion
  console.log(version, old, estimate, done.from, done.steps.length, back.to, format)
  const sealed: MigrationReport = await encryptDatabase('/tmp/old', Buffer.alloc(32, 1))
  const opened2: MigrationReport = await decryptDatabase('/tmp/old', new Uint8Array(32))
  const syncSealed: MigrationReport = encryptDatabaseSync('/tmp/old', Buffer.alloc(32, 1))
  const syncOpened: MigrationReport = decryptDatabaseSync('/tmp/old', Buffer.alloc(32, 1))
  const now: boolean | undefined = sealed.encryptedAfter
  const rewritten: MigrationReport = await migrate('/tmp/old', { checksum: 'crc32', key: Buffer.alloc(32, 1) })
  console.log(rewritten.encryptedAfter)
  console.log(opened2.encryptedBefore, syncSealed.to, syncOpened.to, now)
  // @ts-expect-error the key is bytes
  encryptDatabase('/tmp/old', 'a string')
  // @ts-expect-error migrateSync takes no onProgress
  migrateSync('/tmp/old', { onProgress: () => {} })
  // @ts-expect-error unknown checksum algorithm
  migrate('/tmp/old', { checksum: 'md5' })

  // @ts-expect-error numbers are not keys
  db.getSync(5)
  // @ts-expect-error unknown durability
  new Database('/tmp/z', { durability: 'sometimes' })
  // @ts-expect-error batch operation types are 'put' | 'del'
  db.batchSync([{ type: 'insert', key: 'a' }])
  // @ts-expect-error health() is a Promise: await it or call healthSync()
  const notYet: HealthReport = db.health()
  console.log(notYet, action, engine, p99, verdict, slow)
  // @ts-expect-error get resolves to a Buffer or undefined, not a string
  const wrong: string = await db.get('k')
  console.log(wrong)
}

void main()
