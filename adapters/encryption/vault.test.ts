import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { sealedPrefix } from '../../domain/secrets/secret-value.ts';
import { resetDatabase, testDatabase } from '../../test/support/database.ts';
import { rejects } from '../../test/support/rejects.ts';
import { keyId, loadMasterKeys, masterKeyFile } from './master-keys.ts';
import { DestroyedKeyError, MissingMasterKeyError, createVault } from './vault.ts';

const test = suite('adapters/encryption vault (envelope encryption on the test database)');
const dirs: string[] = [];
const dataDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'gyre-vault-'));
  dirs.push(d);
  return d;
};
const key = () => randomBytes(32).toString('base64');
const quiet = { warn: () => {} };
/** Both halves in one object, for tests that seal and then open. */
const sealerAndOpener = async (...args: Parameters<typeof createVault>) => {
  const { vault, opener } = await createVault(...args);
  return { ...vault, ...opener };
};

test.before.each(async () => {
  await resetDatabase();
});
test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('a sealed value opens again, and carries neither the value nor its base64', async () => {
  const vault = await sealerAndOpener(testDatabase(), loadMasterKeys({ configured: key(), dataDir: dataDir(), ...quiet }));
  const value = 'canary-7f3a9c-the-value';
  const sealed = await vault.seal('context:a', 'env TOKEN', value);
  assert.ok(sealed.startsWith(sealedPrefix));
  assert.not.ok(sealed.includes(value));
  assert.not.ok(sealed.includes(Buffer.from(value).toString('base64')));
  assert.is(await vault.open('context:a', 'env TOKEN', sealed), value);
  // the same value sealed twice differs (random nonce)
  assert.is.not(await vault.seal('context:a', 'env TOKEN', value), sealed);
});

test('a sealed value is bound to its owner and label: moved elsewhere, or altered, it does not open', async () => {
  const vault = await sealerAndOpener(testDatabase(), loadMasterKeys({ configured: key(), dataDir: dataDir(), ...quiet }));
  const sealed = await vault.seal('project:p', 'env A', 'value-a');
  await vault.seal('project:q', 'env A', 'other');
  await rejects(() => vault.open('project:p', 'env B', sealed));
  await rejects(() => vault.open('project:q', 'env A', sealed));
  const raw = Buffer.from(sealed.slice(sealedPrefix.length), 'base64');
  raw[raw.length - 20]! ^= 1;
  await rejects(() => vault.open('project:p', 'env A', sealedPrefix + raw.toString('base64')));
});

test('destroying a data key makes its old values unreadable for good, and only its own', async () => {
  const vault = await sealerAndOpener(testDatabase(), loadMasterKeys({ configured: key(), dataDir: dataDir(), ...quiet }));
  const gone = await vault.seal('context:gone', 'env X', 'x-value');
  const kept = await vault.seal('context:kept', 'env X', 'y-value');
  await vault.destroy('context:gone');
  await rejects(
    () => vault.open('context:gone', 'env X', gone),
    (e: unknown) => e instanceof DestroyedKeyError,
  );
  assert.is(await vault.open('context:kept', 'env X', kept), 'y-value');
  // a new key for the same owner does not bring the old values back
  await vault.seal('context:gone', 'env X', 'new');
  await rejects(() => vault.open('context:gone', 'env X', gone));
});

test('data keys are stored wrapped, never in clear', async () => {
  const vault = await sealerAndOpener(testDatabase(), loadMasterKeys({ configured: key(), dataDir: dataDir(), ...quiet }));
  await vault.seal('project:w', 'env A', 'v');
  const rows = (await testDatabase()('data_keys').select('*')) as Array<{ wrapped: string; key_id: string }>;
  assert.is(rows.length, 1);
  assert.is(Buffer.from(rows[0]!.wrapped, 'base64').length, 12 + 32 + 16);
  assert.is(rows[0]!.key_id, vault.keyId());
});

test('embedded mode generates a master key file of mode 0600, warns once, and reuses it on restart', async () => {
  const dir = dataDir();
  const warnings: string[] = [];
  const first = loadMasterKeys({ dataDir: dir, warn: (m) => warnings.push(m) });
  assert.is(statSync(masterKeyFile(dir)).mode & 0o777, 0o600);
  assert.is(warnings.length, 1);
  assert.match(warnings[0]!, /GYRE_MASTER_KEY is not set/);
  assert.not.ok(warnings[0]!.includes(first.current().key.toString('base64')));
  const again = loadMasterKeys({ dataDir: dir, warn: (m) => warnings.push(m) });
  assert.is(again.current().id, first.current().id);
  assert.is(warnings.length, 1);
});

test('rotation in embedded mode: a new key in the file, every data key re-wrapped, values still open, the old key gone', async () => {
  const dir = dataDir();
  const keys = loadMasterKeys({ dataDir: dir, ...quiet });
  const before = keys.current().id;
  const vault = await sealerAndOpener(testDatabase(), keys);
  const sealed = await Promise.all(Array.from({ length: 30 }, (_, i) => vault.seal(`project:${i}`, 'env V', `value-${i}`)));
  const r = await vault.rotate();
  assert.is(r.rewrapped, 30);
  assert.equal(r.fromKeyIds, [before]);
  assert.is.not(r.toKeyId, before);
  const file = readFileSync(masterKeyFile(dir), 'utf8').trim().split('\n');
  assert.is(file.length, 1);
  assert.is(keyId(Buffer.from(file[0]!, 'base64')), r.toKeyId);
  assert.is(statSync(masterKeyFile(dir)).mode & 0o777, 0o600);
  for (let i = 0; i < 30; i++) assert.is(await vault.open(`project:${i}`, 'env V', sealed[i]!), `value-${i}`);
  // a restart reads only the new key, and every value still opens
  const restarted = await sealerAndOpener(testDatabase(), loadMasterKeys({ dataDir: dir, ...quiet }));
  for (let i = 0; i < 30; i++) assert.is(await restarted.open(`project:${i}`, 'env V', sealed[i]!), `value-${i}`);
});

test('rotation while seals and opens go on: nothing fails, nothing is left under the old key', async () => {
  const dir = dataDir();
  const vault = await sealerAndOpener(testDatabase(), loadMasterKeys({ dataDir: dir, ...quiet }));
  const existing = await Promise.all(Array.from({ length: 100 }, (_, i) => vault.seal(`context:${i}`, 'env V', `old-${i}`)));
  let stop = false;
  const busy = (async () => {
    const made: Array<[string, string, string]> = [];
    for (let i = 0; !stop; i++) {
      const owner = `context:new-${i}`;
      made.push([owner, await vault.seal(owner, 'env V', `new-${i}`), `new-${i}`]);
      assert.is(await vault.open(`context:${i % 100}`, 'env V', existing[i % 100]!), `old-${i % 100}`);
    }
    return made;
  })();
  const r = await vault.rotate();
  stop = true;
  const made = await busy;
  assert.ok(made.length > 0, 'seals ran during the rotation');
  assert.ok(r.rewrapped >= 100);
  const stale = await testDatabase()('data_keys').whereNot({ key_id: r.toKeyId }).count('* as n');
  assert.is(Number((stale[0] as { n: string | number }).n), 0);
  const restarted = await sealerAndOpener(testDatabase(), loadMasterKeys({ dataDir: dir, ...quiet }));
  for (const [owner, sealed, value] of made) assert.is(await restarted.open(owner, 'env V', sealed), value);
  for (let i = 0; i < 100; i++) assert.is(await restarted.open(`context:${i}`, 'env V', existing[i]!), `old-${i}`);
});

test('rotation from the environment: the old key as GYRE_MASTER_KEY_PREVIOUS, then only the new one is needed', async () => {
  const [oldKey, newKey] = [key(), key()];
  const dir = dataDir();
  const before = await sealerAndOpener(testDatabase(), loadMasterKeys({ configured: oldKey, dataDir: dir, ...quiet }));
  const sealed = await before.seal('project:e', 'env V', 'env-value');
  // the new key alone cannot unwrap what the old one wrapped, and says what to do
  const without = await sealerAndOpener(testDatabase(), loadMasterKeys({ configured: newKey, dataDir: dir, ...quiet }));
  await rejects(
    () => without.open('project:e', 'env V', sealed),
    (e: unknown) => e instanceof MissingMasterKeyError && /GYRE_MASTER_KEY_PREVIOUS/.test((e as Error).message),
  );
  const during = await sealerAndOpener(testDatabase(), loadMasterKeys({ configured: newKey, previous: [oldKey], dataDir: dir, ...quiet }));
  assert.is(await during.open('project:e', 'env V', sealed), 'env-value');
  const r = await during.rotate();
  assert.is(r.rewrapped, 1);
  const after = await sealerAndOpener(testDatabase(), loadMasterKeys({ configured: newKey, dataDir: dir, ...quiet }));
  assert.is(await after.open('project:e', 'env V', sealed), 'env-value');
  // a second rotation has nothing to move
  assert.is((await after.rotate()).rewrapped, 0);
});

test('two rotations at once: the second is refused as a conflict', async () => {
  const vault = await sealerAndOpener(testDatabase(), loadMasterKeys({ dataDir: dataDir(), ...quiet }));
  await Promise.all(Array.from({ length: 20 }, (_, i) => vault.seal(`p:${i}`, 'l', 'v')));
  const results = await Promise.allSettled([vault.rotate(), vault.rotate()]);
  assert.equal(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
  assert.match(String((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason), /already running/);
});

test.run();
