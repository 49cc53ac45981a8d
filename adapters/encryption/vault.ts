import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { ConflictError, GyreError } from '../../domain/errors.ts';
import { sealedPrefix } from '../../domain/secrets/secret-value.ts';
import { withSchemaLock } from '../database/sql.ts';
import { decrypt, encrypt } from './aes-gcm.ts';
import type { MasterKey, MasterKeys } from './master-keys.ts';
import type { Opener, Rotation, Vault } from './port.ts';

const table = 'data_keys';

/** A data key wrapped under a master key that Gyre was not given: the operator must supply it. */
export class MissingMasterKeyError extends GyreError {
  constructor(keyId: string) {
    super(
      `a data key is wrapped under master key ${keyId}, which Gyre does not hold: set it as GYRE_MASTER_KEY_PREVIOUS and run rotateMasterKey`,
      'MASTER_KEY_MISSING',
      500,
    );
  }
}

/** The data key was destroyed (its context deleted): nothing sealed under it can be opened. */
export class DestroyedKeyError extends GyreError {
  constructor() {
    super('this secret can no longer be decrypted: its data key was destroyed', 'DATA_KEY_DESTROYED', 410);
  }
}

export const ensureVaultTable = (trx: Knex.Transaction) =>
  trx.raw(
    `create table if not exists ${table} (owner text primary key, key_id text not null, wrapped text not null, created_at timestamptz not null default now())`,
  );

const wrapAad = (owner: string) => `gyre data key\n${owner}`;
const valueAad = (owner: string, label: string) => `gyre value\n${owner}\n${label}`;

/** The vault over a SQL table of wrapped data keys: the table is mutable on purpose, the log is not. */
export const createVault = async (db: Knex, keys: MasterKeys): Promise<{ vault: Vault; opener: Opener }> => {
  await withSchemaLock(db, ensureVaultTable);
  /** Data keys being created under the key that was current when they started; a rotation waits for them. */
  const creating = new Set<Promise<unknown>>();
  let rotating = false;

  const unwrap = (owner: string, row: { key_id: string; wrapped: string }): Buffer => {
    const master = keys.byId(row.key_id);
    if (!master) throw new MissingMasterKeyError(row.key_id);
    return decrypt(master.key, Buffer.from(row.wrapped, 'base64'), wrapAad(owner));
  };
  const wrap = (owner: string, master: MasterKey, dataKey: Buffer) => encrypt(master.key, dataKey, wrapAad(owner)).toString('base64');

  const read = (owner: string) => db(table).where({ owner }).first('key_id', 'wrapped') as Promise<{ key_id: string; wrapped: string } | undefined>;
  const dataKey = async (owner: string, create: boolean): Promise<Buffer | undefined> => {
    const row = await read(owner);
    if (row) {
      try {
        return unwrap(owner, row);
      } catch (e) {
        // a rotation may have re-wrapped the row, and forgotten its old key, since it was read
        if (!(e instanceof MissingMasterKeyError)) throw e;
        const again = await read(owner);
        if (!again) return undefined;
        return unwrap(owner, again);
      }
    }
    if (!create) return undefined;
    const master = keys.current();
    // a promise, not the query builder: awaiting a builder twice would run the insert twice
    const insert: Promise<unknown> = db(table)
      .insert({ owner, key_id: master.id, wrapped: wrap(owner, master, randomBytes(32)) })
      .onConflict('owner')
      .ignore()
      .then(() => undefined);
    creating.add(insert);
    try {
      await insert;
    } finally {
      creating.delete(insert);
    }
    // whoever inserted first wins; everyone uses the key that is stored
    return unwrap(owner, (await read(owner))!);
  };

  const opener: Opener = {
    async open(owner, label, sealed) {
      if (!sealed.startsWith(sealedPrefix)) throw new Error('not a sealed value');
      const key = await dataKey(owner, false);
      if (!key) throw new DestroyedKeyError();
      return decrypt(key, Buffer.from(sealed.slice(sealedPrefix.length), 'base64'), valueAad(owner, label)).toString('utf8');
    },
  };
  const vault: Vault = {
    keyId: () => keys.current().id,
    async seal(owner, label, value) {
      const key = (await dataKey(owner, true))!;
      return sealedPrefix + encrypt(key, Buffer.from(value, 'utf8'), valueAad(owner, label)).toString('base64');
    },
    async destroy(owner) {
      await db(table).where({ owner }).delete();
    },
    async rotate(): Promise<Rotation> {
      if (rotating) throw new ConflictError('a master key rotation is already running: wait for it to finish');
      rotating = true;
      try {
        return await rotation();
      } finally {
        rotating = false;
      }
    },
  };
  return { vault, opener };

  async function rotation(): Promise<Rotation> {
    const to = keys.beginRotation();
    await Promise.allSettled([...creating]);
    const from = new Set<string>();
    let rewrapped = 0;
    // passes until no data key is left under another key; each key moves by compare-and-set
    for (;;) {
      const stale = (await db(table).whereNot({ key_id: to.id }).orderBy('owner').limit(500).select('owner', 'key_id', 'wrapped')) as Array<{
        owner: string;
        key_id: string;
        wrapped: string;
      }>;
      if (stale.length === 0) break;
      for (const row of stale) {
        from.add(row.key_id);
        rewrapped += await db(table)
          .where({ owner: row.owner, wrapped: row.wrapped })
          .update({ key_id: to.id, wrapped: wrap(row.owner, to, unwrap(row.owner, row)) });
      }
    }
    keys.finishRotation();
    return { toKeyId: to.id, fromKeyIds: [...from].sort(), rewrapped };
  }
};
