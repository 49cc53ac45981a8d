import { randomUUID } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DomainError } from '../domain/errors.ts';
import { systemActor } from '../domain/events/envelope.ts';
import { firstAdminId } from '../domain/users/accounts.ts';
import { createAccount } from './accounts.ts';
import { anyAdmin } from '../projections/users.ts';
import { generateToken, hashToken } from './tokens.ts';
import type { UseCases, WithStore } from './dependencies.ts';

export const adminTokenFile = (dataDir: string) => join(dataDir, 'admin-token');

export { firstAdminId };

/**
 * On the first start with no admin: create the admin account with an API token, in one append, and
 * write the token to `$GYRE_DATA_DIR/admin-token` (0600); return it so the caller prints it once.
 * The file is written before the append and renamed after it, so a crash leaves either no admin, or
 * an admin whose token is on disk (renamed on the next start).
 */
export const bootstrapAdmin = async (s: UseCases & WithStore, dataDir: string): Promise<{ token: string; file: string } | null> => {
  const file = adminTokenFile(dataDir);
  const pending = `${file}.pending`;
  if (await anyAdmin(s.db)) {
    try {
      renameSync(pending, file);
    } catch {}
    return null;
  }
  const token = generateToken();
  writeFileSync(pending, `${token}\n`, { mode: 0o600 });
  try {
    // the first admin takes a seat whatever the licence says: without it no one could change the licence
    const created = await createAccount(
      s,
      { actor: systemActor, request: null },
      {
        type: 'create',
        userId: firstAdminId,
        login: 'admin',
        name: 'Administrator',
        state: 'ACTIVE',
        isAdmin: true,
        token: { tokenId: randomUUID(), label: 'admin (first start)', tokenHash: hashToken(token) },
      },
    );
    await s.readYourWrites(created);
  } catch (e) {
    rmSync(pending, { force: true });
    // another process created the first admin first
    if (e instanceof DomainError && e.code === 'USER_EXISTS') return null;
    throw e;
  }
  renameSync(pending, file);
  return { token, file };
};
