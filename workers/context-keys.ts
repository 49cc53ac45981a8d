import type { WithVault } from '../application/dependencies.ts';
import { destroyContextKey } from '../application/contexts.ts';
import type { Reactor } from './reactor.ts';

/** Destroys the data key of each deleted context, so its values can never be decrypted again. */
export const contextKeyDestroyer = (deps: WithVault): Reactor => ({
  name: 'context-key-destroyer',
  handles: [{ exact: 'context.delete' }],
  reads: [],
  react: (event) => destroyContextKey(deps, (event.data as { contextId: string }).contextId),
});
