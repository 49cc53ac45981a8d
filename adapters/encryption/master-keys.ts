import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface MasterKey {
  readonly id: string;
  readonly key: Buffer;
}

/**
 * The master keys Gyre holds: the current one wraps new data keys; previous ones only unwrap until a
 * rotation has moved every data key off them. From the environment (`GYRE_MASTER_KEY`, and during a
 * rotation `GYRE_MASTER_KEY_PREVIOUS`), or in the embedded mode from a file in the data directory.
 */
export interface MasterKeys {
  readonly source: 'environment' | 'file';
  current(): MasterKey;
  byId(id: string): MasterKey | undefined;
  /** Makes the key that a rotation moves to current: a new one in the file, the configured one otherwise. */
  beginRotation(): MasterKey;
  /** Forgets every key but the current one (the file keeps only it). */
  finishRotation(): void;
}

export const keyId = (key: Buffer): string => createHash('sha256').update('gyre master key\n').update(key).digest('hex').slice(0, 16);
const masterKey = (base64: string): MasterKey => {
  const key = Buffer.from(base64.trim(), 'base64');
  if (key.length !== 32) throw new Error('a master key must be 32 bytes');
  return { id: keyId(key), key };
};

export const masterKeyFile = (dataDir: string) => join(dataDir, 'master.key');

/** Written beside, synced, then renamed over: after a crash the file holds the old keys or the new, never neither. */
const writeKeys = (file: string, keys: ReadonlyArray<MasterKey>) => {
  const pending = `${file}.pending`;
  const fd = openSync(pending, 'w', 0o600);
  try {
    writeFileSync(fd, `${keys.map((k) => k.key.toString('base64')).join('\n')}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(pending, 0o600);
  renameSync(pending, file);
  const dir = openSync(dirname(file), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
};

export const loadMasterKeys = (options: {
  configured?: string;
  previous?: ReadonlyArray<string>;
  dataDir: string;
  warn: (message: string) => void;
}): MasterKeys => {
  let keys: MasterKey[];
  const file = masterKeyFile(options.dataDir);
  const source = options.configured ? 'environment' : 'file';
  if (options.configured) {
    keys = [masterKey(options.configured), ...(options.previous ?? []).map(masterKey)];
  } else if (existsSync(file)) {
    keys = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map(masterKey);
    if (keys.length === 0) throw new Error(`${file} holds no key`);
  } else {
    keys = [masterKey(randomBytes(32).toString('base64'))];
    writeKeys(file, keys);
    options.warn(
      `GYRE_MASTER_KEY is not set: generated a master key into ${file} (mode 0600). Back it up with the data directory, or set GYRE_MASTER_KEY for production.`,
    );
  }
  return {
    source,
    current: () => keys[0]!,
    byId: (id) => keys.find((k) => k.id === id),
    beginRotation() {
      if (source === 'file') {
        keys = [masterKey(randomBytes(32).toString('base64')), ...keys];
        writeKeys(file, keys);
      }
      return keys[0]!;
    },
    finishRotation() {
      keys = [keys[0]!];
      if (source === 'file') writeKeys(file, keys);
    },
  };
};
