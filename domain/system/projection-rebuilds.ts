import { z } from 'zod';
import { ValidationError } from '../errors.ts';
import { defineEvent } from '../events/registry.ts';

/** A read model's name as projections/all.ts names it: lowercase words joined by underscores or hyphens. */
export const ReadModelName = z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, 'a read model name is lowercase letters, digits, underscores and hyphens');

/** What `rebuildProjections` takes: the read models to build again; none or null: every one. */
export const RebuildRequest = z.array(ReadModelName).max(100).nullable().optional();

/**
 * An admin asked for read models to be built again from the log. `rebuildId` names the rebuild that
 * does it: a new one, or (`joined`) the one already rebuilding every read model asked for.
 */
export const projectionsRebuildRequested = defineEvent(
  'system.projections.rebuild',
  z.object({ rebuildId: z.string().uuid(), names: z.array(ReadModelName), joined: z.boolean() }),
  { publicFields: ['rebuildId', 'names', 'joined'] },
);
/** Reading a rebuild's progress; recorded only when refused. */
export const projectionsRead = defineEvent('system.projections.read', z.object({}).strict());

export const projectionsTarget = { id: 'projections', type: 'projections', name: 'Read models' };

/**
 * The read models a request names, each once, in the order Gyre keeps them; every one when it names
 * none. A name Gyre does not keep is refused, naming those it does.
 */
export const readModelsToRebuild = (requested: ReadonlyArray<string> | null | undefined, known: ReadonlyArray<string>): string[] => {
  if (!requested || requested.length === 0) return [...known];
  const unknown = [...new Set(requested.filter((n) => !known.includes(n)))];
  if (unknown.length) throw new ValidationError(`no read model named ${unknown.join(', ')}: Gyre keeps ${known.join(', ')}`);
  return known.filter((n) => requested.includes(n));
};
