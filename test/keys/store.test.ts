import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKey, ensureInitialKey, hashKey, KeyRing, KEY_PREFIX, keyStorePath, readKeyStore, revokeKey } from '../../src/keys/store.js';

test('created keys are stored as hashes only, and resolve to their name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-keys-'));
  const { key, stored } = createKey(dir, 'billing-app');
  assert.ok(key.startsWith(KEY_PREFIX));
  assert.ok(key.length > 40);
  const file = readFileSync(keyStorePath(dir), 'utf8');
  assert.ok(!file.includes(key), 'the key itself must not be written to the store');
  assert.equal(stored.hash, hashKey(key));
  assert.equal(statSync(keyStorePath(dir)).mode & 0o777, 0o600);
  const ring = new KeyRing(readKeyStore(dir));
  assert.equal(ring.lookup(key), 'billing-app');
  assert.equal(ring.lookup(key + 'x'), undefined);
  assert.throws(() => createKey(dir, 'billing-app'), /already exists/);
  assert.equal(revokeKey(dir, 'billing-app'), true);
  assert.equal(new KeyRing(readKeyStore(dir)).lookup(key), undefined);
});

test('first run key is written once, 0600, and is valid', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-keys-'));
  const { key, path } = ensureInitialKey(dir);
  assert.equal(readFileSync(path, 'utf8').trim(), key);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(new KeyRing(readKeyStore(dir)).lookup(key), 'default');
});
