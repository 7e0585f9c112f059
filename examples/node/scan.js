// Range scans: bounds, prefixes, reverse order, limits, sync and async iteration.
'use strict'
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Database } = require('lightning-db')

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightning-scan-'))
  const db = new Database(dir)
  const ops = []
  for (const city of ['berlin', 'lisbon', 'oslo', 'paris', 'rome']) {
    for (let day = 1; day <= 3; day++) ops.push({ type: 'put', key: `temp:${city}:${day}`, value: String(10 + day) })
  }
  db.batchSync(ops)

  console.log('oslo:', db.iterator({ prefix: 'temp:oslo:' }).all().map(([k, v]) => `${k}=${v}`).join(' '))
  console.log('l..p:', db.keys({ gte: 'temp:l', lt: 'temp:p' }).all().map(String).join(' '))
  console.log('last two:', db.keys({ reverse: true, limit: 2 }).all().map(String).join(' '))
  let sum = 0
  for await (const v of db.values({ prefix: 'temp:rome:' })) sum += Number(v)
  console.log('rome sum:', sum)

  // An iterator reads a snapshot: writes after it was made are not seen.
  const it = db.keys({ prefix: 'temp:' })
  db.putSync('temp:zurich:1', '9')
  console.log('iterator saw', it.all().length, 'keys; the database now has', db.keys({ prefix: 'temp:' }).all().length)
  db.close()
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
