'use strict'
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

/** A fresh empty directory, removed when the process exits. */
function tmpdir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lightning-node-'))
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
  if (t && t.after) t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Asserts `fn` throws (or `fn()` rejects) with `code`, returns the error. */
async function rejectsWith(assert, fn, code) {
  let caught
  try {
    await fn()
  } catch (err) {
    caught = err
  }
  assert.ok(caught, `expected an error with code ${code}`)
  assert.equal(caught.code, code, `got ${caught.code}: ${caught.message}`)
  assert.equal(typeof caught.errno, 'number')
  assert.equal(typeof caught.retryable, 'boolean')
  assert.ok(caught instanceof Error)
  return caught
}

module.exports = { tmpdir, rejectsWith }
