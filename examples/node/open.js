// Open a database, write and read a few keys, reopen it and read them back.
// Run: node examples/node/open.js [dir]   (with the lightning-db package installed or linked)
'use strict'
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Database } = require('lightning-db')

async function main() {
  const dir = process.argv[2] || fs.mkdtempSync(path.join(os.tmpdir(), 'lightning-open-'))
  const db = await Database.open(dir) // opens on the thread pool; `new Database(dir)` is the sync form
  await db.put('greeting', 'hello')   // durable when the promise resolves
  db.putSync('answer', '42')          // the blocking twin
  console.log('greeting =', db.getSync('greeting').toString())
  console.log('answer   =', (await db.get('answer')).toString())
  console.log('missing  =', db.getSync('missing'))
  db.close()

  const again = new Database(dir)
  console.log('after reopen:', again.getSync('greeting').toString(), again.getSync('answer').toString())
  again.close()
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
