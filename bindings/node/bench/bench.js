'use strict'
// Lightning DB's Node binding against lmdb-js, classic-level and better-sqlite3, in one run on
// the same data, every commit durable (fsync/fdatasync before it is acknowledged):
//
//   Lightning DB     durability 'sync' (the default)
//   lmdb-js          overlappingSync: false, noSync: false (each commit synced before it resolves)
//   classic-level    { sync: true } on every write
//   better-sqlite3   journal_mode = WAL, synchronous = FULL
//
// Usage: node bench.js [records]   (default 200000; BENCH_DIR for the data folder)
// Writes results.md next to this file.

const fs = require('node:fs')
const path = require('node:path')
const { Database } = require('..')

const N = Number(process.argv[2] || process.env.BENCH_N || 200000)
const INDIVIDUAL = 1000
const BATCHES = 100
const BATCH_SIZE = 1000
const RANDOM_READS = 100000
const ASYNC_READS = 100000
const RANGES = 20000
const CONCURRENT = 2000
const LOAD_BATCH = 10000
const VALUE_SIZE = 100
const dataDir = process.env.BENCH_DIR || path.join(__dirname, 'data')

// Deterministic data: the same keys, values and access order for every engine.
let seed = 42
function rand() {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed
}
const keyOf = (i) => Buffer.from(`key${String(i).padStart(10, '0')}`)
const keys = Array.from({ length: N }, (_, i) => keyOf(i))
const loadOrder = keys.map((_, i) => i)
for (let i = N - 1; i > 0; i--) {
  const j = rand() % (i + 1)
  ;[loadOrder[i], loadOrder[j]] = [loadOrder[j], loadOrder[i]]
}
const valueFor = (i, gen = 0) => {
  const v = Buffer.alloc(VALUE_SIZE)
  v.writeUInt32BE(i, 0)
  v.writeUInt32BE(gen, 4)
  for (let p = 8; p < VALUE_SIZE; p++) v[p] = (i * 31 + p * 7 + gen) & 0xff
  return v
}
const values = keys.map((_, i) => valueFor(i))
const readOrder = Array.from({ length: RANDOM_READS }, () => rand() % N)
const rangeStarts = Array.from({ length: RANGES }, () => rand() % N)
const writeOrder = Array.from({ length: Math.max(INDIVIDUAL, BATCHES * BATCH_SIZE, CONCURRENT) }, () => rand() % N)

function now() {
  return Number(process.hrtime.bigint()) / 1e6
}

// ---------- engine adapters: each the idiomatic durable way to use the library ----------

function lightningAdapter(dir) {
  const db = new Database(dir)
  return {
    name: 'lightning',
    async loadBatch(ops) {
      await db.batch(ops.map(([k, v]) => ({ type: 'put', key: k, value: v })))
    },
    put: (k, v) => db.put(k, v),
    putSync: (k, v) => db.putSync(k, v),
    async batch(ops) {
      await db.batch(ops.map(([k, v]) => ({ type: 'put', key: k, value: v })))
    },
    getSync: (k) => db.getSync(k),
    get: (k) => db.get(k),
    range10(start) {
      let n = 0
      for (const _ of db.iterator({ gte: start, limit: 10 })) n++
      return n
    },
    scanAll() {
      let n = 0
      for (const _ of db.iterator()) n++
      return n
    },
    close: () => db.close(),
  }
}

function lmdbAdapter(dir) {
  const { open } = require('lmdb')
  const db = open({ path: dir, overlappingSync: false, noSync: false, compression: false, keyEncoding: 'binary', encoding: 'binary' })
  return {
    name: 'lmdb',
    async loadBatch(ops) {
      await db.transaction(() => {
        for (const [k, v] of ops) db.put(k, v)
      })
    },
    put: (k, v) => db.put(k, v),
    putSync: (k, v) => db.putSync(k, v),
    async batch(ops) {
      await db.transaction(() => {
        for (const [k, v] of ops) db.put(k, v)
      })
    },
    getSync: (k) => db.get(k),
    get: async (k) => db.get(k), // lmdb-js reads are synchronous; awaiting one is the async form
    range10(start) {
      let n = 0
      for (const _ of db.getRange({ start, limit: 10 })) n++
      return n
    },
    scanAll() {
      let n = 0
      for (const _ of db.getRange({})) n++
      return n
    },
    close: () => db.close(),
  }
}

function classicAdapter(dir) {
  const { ClassicLevel } = require('classic-level')
  const db = new ClassicLevel(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  const sync = { sync: true }
  return {
    name: 'classic-level',
    open: () => db.open(),
    async loadBatch(ops) {
      await db.batch(ops.map(([k, v]) => ({ type: 'put', key: k, value: v })), sync)
    },
    put: (k, v) => db.put(k, v, sync),
    putSync: null, // no synchronous writes
    async batch(ops) {
      await db.batch(ops.map(([k, v]) => ({ type: 'put', key: k, value: v })), sync)
    },
    getSync: typeof db.getSync === 'function' ? (k) => db.getSync(k) : null,
    get: (k) => db.get(k),
    async range10(start) {
      let n = 0
      for await (const _ of db.iterator({ gte: start, limit: 10 })) n++
      return n
    },
    async scanAll() {
      let n = 0
      for await (const _ of db.iterator()) n++
      return n
    },
    close: () => db.close(),
  }
}

function sqliteAdapter(dir) {
  const Sqlite = require('better-sqlite3')
  fs.mkdirSync(dir, { recursive: true })
  const db = new Sqlite(path.join(dir, 'bench.db'))
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.exec('CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID')
  const put = db.prepare('INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)')
  const get = db.prepare('SELECT v FROM kv WHERE k = ?').pluck()
  const range = db.prepare('SELECT k, v FROM kv WHERE k >= ? ORDER BY k LIMIT 10').raw()
  const all = db.prepare('SELECT k, v FROM kv ORDER BY k').raw()
  const many = db.transaction((ops) => {
    for (const [k, v] of ops) put.run(k, v)
  })
  return {
    name: 'sqlite',
    loadBatch: (ops) => many(ops),
    put: (k, v) => put.run(k, v), // no async API: each put is its own durable transaction
    putSync: (k, v) => put.run(k, v),
    batch: (ops) => many(ops),
    getSync: (k) => get.get(k),
    get: async (k) => get.get(k), // better-sqlite3 is synchronous only
    range10(start) {
      let n = 0
      for (const _ of range.iterate(start)) n++
      return n
    },
    scanAll() {
      let n = 0
      for (const _ of all.iterate()) n++
      return n
    },
    close: () => db.close(),
  }
}

// ---------- phases ----------

const PHASES = [
  ['bulk load', `${N} records, batches of ${LOAD_BATCH}`, async (e) => {
    for (let s = 0; s < N; s += LOAD_BATCH) {
      const ops = []
      for (let i = s; i < Math.min(N, s + LOAD_BATCH); i++) ops.push([keys[loadOrder[i]], values[loadOrder[i]]])
      await e.loadBatch(ops)
    }
  }],
  ['individual durable puts', `${INDIVIDUAL} awaited one at a time`, async (e) => {
    for (let i = 0; i < INDIVIDUAL; i++) {
      const k = writeOrder[i]
      await e.put(keys[k], valueFor(k, 1))
    }
  }],
  // The same puts as synchronous calls, where the library has them: what better-sqlite3's
  // "awaited" puts above really are (it has no async API, so each blocks the event loop
  // for its sync to disk).
  ['individual durable putSync', `${INDIVIDUAL} synchronous calls`, async (e) => {
    if (!e.putSync) return null
    for (let i = 0; i < INDIVIDUAL; i++) {
      const k = writeOrder[i]
      e.putSync(keys[k], valueFor(k, 4))
    }
  }],
  ['batches of 1,000', `${BATCHES} batches`, async (e) => {
    for (let b = 0; b < BATCHES; b++) {
      const ops = []
      for (let i = 0; i < BATCH_SIZE; i++) {
        const k = writeOrder[b * BATCH_SIZE + i]
        ops.push([keys[k], valueFor(k, 2)])
      }
      await e.batch(ops)
    }
  }],
  // Read phases take a count, and name how many of it warm them up (see runAll).
  ['random getSync', `${RANDOM_READS} reads`, async (e, count = RANDOM_READS) => {
    if (!e.getSync) return null
    let bytes = 0
    for (let i = 0; i < count; i++) bytes += e.getSync(keys[readOrder[i]]).length
    if (bytes !== count * VALUE_SIZE) throw new Error(`${e.name}: wrong getSync bytes ${bytes}`)
  }, RANDOM_READS / 10],
  ['random await get', `${ASYNC_READS} reads, awaited one at a time`, async (e, count = ASYNC_READS) => {
    let bytes = 0
    for (let i = 0; i < count; i++) bytes += (await e.get(keys[readOrder[i]])).length
    if (bytes !== count * VALUE_SIZE) throw new Error(`${e.name}: wrong get bytes ${bytes}`)
  }, ASYNC_READS / 10],
  ['10-entry ranges', `${RANGES} ranges`, async (e, count = RANGES) => {
    let n = 0
    for (let i = 0; i < count; i++) n += await e.range10(keys[rangeStarts[i]])
    if (n < count * 5) throw new Error(`${e.name}: short ranges ${n}`)
  }, RANGES / 10],
  ['full iteration', `${N} pairs`, async (e) => {
    const n = await e.scanAll()
    if (n !== N) throw new Error(`${e.name}: full scan saw ${n}`)
  }],
  ['2,000 concurrent async puts', 'Promise.all', async (e) => {
    await Promise.all(writeOrder.slice(0, CONCURRENT).map((k) => e.put(keys[k], valueFor(k, 3))))
  }],
]

// All engines are open at once and each phase runs for every engine before the next phase
// starts (in a rotating order), so a burst of load on a shared machine hits one phase of all
// engines rather than every phase of one engine.
async function runAll(engines) {
  const open = []
  for (const [name, make] of engines) {
    const dir = path.join(dataDir, name)
    fs.rmSync(dir, { recursive: true, force: true })
    fs.mkdirSync(dir, { recursive: true })
    const engine = make(dir)
    if (engine.open) await engine.open()
    open.push([name, engine, dir])
  }
  const results = Object.fromEntries(engines.map(([name]) => [name, []]))
  for (let p = 0; p < PHASES.length; p++) {
    const [phase, , fn, warmup] = PHASES[p]
    // A read phase first runs a tenth of its work for every engine, untimed: otherwise the
    // engine timed first also pays for compiling the phase's loop, which every engine shares.
    if (warmup) {
      for (const [, engine] of open) await fn(engine, warmup)
    }
    for (let k = 0; k < open.length; k++) {
      const [name, engine] = open[(p + k) % open.length]
      if (global.gc) global.gc()
      const t0 = now()
      const r = await fn(engine)
      const ms = r === null ? null : now() - t0
      results[name][p] = ms
      console.log(`  ${phase.padEnd(28)} ${name.padEnd(14)} ${ms === null ? 'n/a' : ms.toFixed(1) + ' ms'}`)
    }
  }
  for (const [, engine, dir] of open) {
    await engine.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
  return results
}

async function main() {
  const engines = [
    ['lightning', lightningAdapter],
    ['lmdb', lmdbAdapter],
    ['classic-level', classicAdapter],
    ['sqlite', sqliteAdapter],
  ]
  console.log(`${N} records, ${VALUE_SIZE}-byte values, 13-byte keys; data in ${dataDir}`)
  const results = await runAll(engines)

  const names = engines.map(([n]) => n)
  const fmt = (ms) => (ms === null ? 'n/a' : ms >= 100 ? ms.toFixed(0) : ms.toFixed(1))
  const lines = []
  lines.push(`# Node binding benchmark`, '')
  lines.push(`${N} records (13-byte keys, ${VALUE_SIZE}-byte values), every commit durable; Node ${process.version}, ${require('node:os').cpus().length} CPUs, load average ${require('node:os').loadavg()[0].toFixed(1)} at the end, ${new Date().toISOString().slice(0, 10)}.`)
  lines.push('All engines open at once; each phase runs for every engine (rotating order) before the next phase.')
  lines.push('Run with `cd bindings/node/bench && npm install && node bench.js ' + N + '`.', '')
  lines.push('## Time (ms)', '')
  lines.push(`| phase | work | ${names.join(' | ')} |`)
  lines.push(`|---|---|${names.map(() => '---:').join('|')}|`)
  PHASES.forEach(([phase, work], i) => {
    lines.push(`| ${phase} | ${work} | ${names.map((n) => fmt(results[n][i])).join(' | ')} |`)
  })
  lines.push('', '## Ratio (engine / Lightning DB; above 1: Lightning DB is faster; bold: the peer is faster)', '')
  lines.push(`| phase | ${names.join(' | ')} |`)
  lines.push(`|---|${names.map(() => '---:').join('|')}|`)
  PHASES.forEach(([phase], i) => {
    const base = results.lightning[i]
    const cells = names.map((n) => {
      const t = results[n][i]
      if (t === null || base === null) return 'n/a'
      const r = t / base
      return r < 1 ? `**${r.toFixed(2)}**` : r.toFixed(2)
    })
    lines.push(`| ${phase} | ${cells.join(' | ')} |`)
  })
  const md = lines.join('\n') + '\n'
  fs.writeFileSync(path.join(__dirname, 'results.md'), md)
  console.log('\n' + md)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
