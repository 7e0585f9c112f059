'use strict'
// The audit log: the enableAuditLogging / security.auditLevel options and auditVerify.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { Database, auditVerify } = require('lightning-db')
const { tmpdir } = require('./helpers')

test('a database keeps an audit log that verifies, and tampering is named', (t) => {
  const dir = path.join(tmpdir(t), 'db')
  for (let i = 0; i < 2; i++) {
    const db = new Database(dir, { enableAuditLogging: true, security: { auditLevel: 'standard' } })
    db.putSync('k', 'v')
    db.close()
  }
  const report = auditVerify(dir)
  assert.equal(report.intact, true)
  assert.equal(report.entries, 4)
  assert.equal(report.tampering, null)

  const log = path.join(dir, 'audit', 'audit-000001.log')
  const lines = fs.readFileSync(log, 'utf8').split('\n')
  lines[1] = lines[1].replace('"close"', '"clone"')
  fs.writeFileSync(log, lines.join('\n'))
  const bad = auditVerify(dir)
  assert.equal(bad.intact, false)
  assert.equal(bad.tampering.kind, 'Edited')
  assert.equal(bad.tampering.seq, 2)
})

test('bad arguments throw with the engine code', (t) => {
  assert.throws(() => auditVerify(tmpdir(t)), { code: 'LIGHTNING_INVALID_ARGUMENT' })
  assert.throws(() => auditVerify(42), { name: 'TypeError', code: 'LIGHTNING_INVALID_ARGUMENT' })
})
