// Every error carries code, errno, retryable and suggestedAction from the engine's table.
'use strict'
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Database, errorCodes } = require('lightning-db')

function describe(err) {
  return `${err.name} ${err.code} (errno ${err.errno}, retryable ${err.retryable}): ${err.message}` +
    (err.suggestedAction ? `\n    -> ${err.suggestedAction}` : '')
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightning-errors-'))
  const db = new Database(dir, { maxValueSize: 1024 })

  try {
    await db.put('big', Buffer.alloc(4096))
  } catch (err) {
    console.log(describe(err))
  }
  try {
    db.getSync(12345) // not a Buffer, Uint8Array or string
  } catch (err) {
    console.log(describe(err), err instanceof TypeError)
  }
  try {
    new Database(dir) // already open in this process
  } catch (err) {
    console.log(describe(err))
  }
  try {
    new Database(fs.mkdtempSync(path.join(os.tmpdir(), 'lightning-errors-')), { cacheSize: 'lots' })
  } catch (err) {
    console.log(describe(err))
  }
  const a = db.beginTransaction()
  const b = db.beginTransaction()
  a.put('x', String(Number(a.get('x') ?? 0) + 1))
  b.put('x', String(Number(b.get('x') ?? 0) + 1))
  await a.commit()
  try {
    await b.commit()
  } catch (err) {
    console.log(describe(err))
    if (err.errno !== errorCodes.LIGHTNING_TRANSACTION_CONFLICT) throw err
  }
  db.close()
  try {
    db.getSync('x')
  } catch (err) {
    console.log(describe(err))
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
