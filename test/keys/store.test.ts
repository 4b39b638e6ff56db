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

test('admin keys: the first-run key is one, a created key is not unless asked; isAdmin is the one check', async () => {
  const { isAdmin } = await import('../../src/keys/store.js');
  const dir = mkdtempSync(join(tmpdir(), 'sluice-keys-'));
  const first = ensureInitialKey(dir);
  const plain = createKey(dir, 'app');
  const ops = createKey(dir, 'ops', { admin: true });
  const ring = new KeyRing([...readKeyStore(dir), { name: 'configured', hash: hashKey('sk-sluice-configured'), admin: true }]);
  assert.equal(ring.lookup(first.key), 'default');
  assert.equal(isAdmin(ring, 'default'), true, 'the first-run key is an admin key');
  assert.equal(isAdmin(ring, ring.lookup(plain.key)), false);
  assert.equal(isAdmin(ring, ring.lookup(ops.key)), true);
  assert.equal(isAdmin(ring, 'configured'), true, 'config auth.keys entries can be admin');
  assert.equal(isAdmin(ring, undefined), false, 'no key, no admin');
  assert.equal(isAdmin(null, undefined), true, 'auth off: local development, everyone is admin');
  // Revoking an admin key (a reload without it) takes its rights away.
  revokeKey(dir, 'ops');
  ring.replace(readKeyStore(dir));
  assert.equal(isAdmin(ring, 'ops'), false);
});
