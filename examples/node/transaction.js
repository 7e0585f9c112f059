// Concurrent transfers between accounts with optimistic transactions, retried on conflict.
'use strict'
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Database } = require('lightning-db')

async function withRetry(db, fn, attempts = 20) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction(fn)
    } catch (err) {
      // LIGHTNING_TRANSACTION_CONFLICT (and lock timeouts, deadlocks) say retryable: true.
      if (!err.retryable || attempt === attempts) throw err
    }
  }
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightning-txn-'))
  const db = new Database(dir)
  await db.batch([
    { type: 'put', key: 'account:alice', value: '100' },
    { type: 'put', key: 'account:bob', value: '100' },
  ])
  const transfer = (from, to, amount) =>
    withRetry(db, async (tx) => {
      const a = Number(tx.get(from))
      const b = Number(tx.get(to))
      await new Promise((resolve) => setImmediate(resolve)) // let transfers interleave
      if (a < amount) throw new Error('insufficient funds')
      tx.put(from, String(a - amount))
      tx.put(to, String(b + amount))
    })
  const transfers = []
  for (let i = 0; i < 20; i++) {
    transfers.push(i % 2 ? transfer('account:alice', 'account:bob', 5) : transfer('account:bob', 'account:alice', 3))
  }
  await Promise.all(transfers)
  const alice = Number(db.getSync('account:alice'))
  const bob = Number(db.getSync('account:bob'))
  console.log(`alice=${alice} bob=${bob} total=${alice + bob} conflicts retried=${db.stats().transactionConflicts}`)
  if (alice + bob !== 200) throw new Error('money was created or destroyed')
  db.close()
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
