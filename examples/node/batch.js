// Write many records in atomic batches, then count them.
'use strict'
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Database } = require('lightning-db')

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightning-batch-'))
  const db = new Database(dir)
  const started = Date.now()
  for (let start = 0; start < 10000; start += 1000) {
    const ops = []
    for (let i = start; i < start + 1000; i++) {
      ops.push({ type: 'put', key: `user:${String(i).padStart(5, '0')}`, value: JSON.stringify({ id: i }) })
    }
    await db.batch(ops) // all or nothing, one durable commit
  }
  await db.batch([{ type: 'del', key: 'user:00000' }, { type: 'put', key: 'meta:count', value: '9999' }])
  const count = db.keys({ prefix: 'user:' }).all().length
  console.log(`${count} users written in ${Date.now() - started} ms; meta:count = ${db.getSync('meta:count')}`)
  if (count !== 9999) throw new Error(`expected 9999 users, found ${count}`)
  db.close()
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
