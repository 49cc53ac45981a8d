import { randomUUID } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { systemActor } from '../domain/events/envelope.ts';
import { userDecider, userStream } from '../domain/users/user.ts';
import { anyAdmin } from '../projections/users.ts';
import { generateToken, hashToken } from './auth/tokens.ts';
import type { Services } from './services.ts';

export const adminTokenFile = (dataDir: string) => join(dataDir, 'admin-token');

/**
 * On the first start with no admin: create the admin account and an API token, write the token to
 * `$GYRE_DATA_DIR/admin-token` (0600) and return it, so that the caller prints it once.
 */
export const bootstrapAdmin = async (s: Services, dataDir: string): Promise<{ token: string; file: string } | null> => {
  if (await anyAdmin(s.db)) return null;
  const userId = randomUUID();
  const target = { id: userId, type: 'user', name: 'admin' };
  const context = { actor: systemActor, request: null };
  await s.commands.execute({ stream: userStream(userId), decider: userDecider, command: { type: 'create', userId, login: 'admin', name: 'Administrator', state: 'ACTIVE', isAdmin: true }, context, target });
  const token = generateToken();
  const created = await s.commands.execute({ stream: userStream(userId), decider: userDecider, command: { type: 'createApiToken', tokenId: randomUUID(), label: 'admin (first start)', tokenHash: hashToken(token) }, context, target });
  await s.readYourWrites(created.position);
  const file = adminTokenFile(dataDir);
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { token, file };
};
