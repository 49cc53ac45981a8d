import { userOwner } from '../adapters/encryption/port.ts';
import type { WithVault } from '../application/dependencies.ts';
import type { Reactor } from './reactor.ts';

/** Destroys the data key of each deleted user, so the GitHub tokens of their sign-ins can never be decrypted again. */
export const userKeyDestroyer = (deps: WithVault): Reactor => ({
  name: 'user-key-destroyer',
  handles: [{ exact: 'user.delete' }],
  reads: [],
  react: (event) => deps.vault.destroy(userOwner((event.data as { userId: string }).userId)),
});
