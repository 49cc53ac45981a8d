import { randomUUID } from 'node:crypto';
import { contextOwner } from '../adapters/encryption/port.ts';
import { ContextName, TeamSlug, contextDecider, contextStream, contextTarget, type ContextCommand } from '../domain/contexts/context.ts';
import { NotFoundError, ValidationError, parseInput } from '../domain/errors.ts';
import type { Member } from '../domain/organizations.ts';
import type { CommandContext } from '../domain/events/envelope.ts';
import { parseUuid } from '../domain/ids.ts';
import { orgId, parseOrgSlug } from '../domain/projects/slugs.ts';
import { EnvVarName, mask } from '../domain/secrets/secret-value.ts';
import { contextById, contextEnvVar, contextOwnerSlugById, type ContextRow } from '../projections/contexts.ts';
import type { EnvVarRow } from '../projections/env-vars.ts';
import { projectOrgSlugById } from '../projections/projects.ts';
import { parseEnvVar } from './projects.ts';
import { written } from './read-your-writes.ts';
import type { Reads, UseCases, WithVault } from './dependencies.ts';
import { executeAndWait } from './execute-and-wait.ts';

/** Contexts, their variables and restrictions, as GraphQL and the CircleCI API v2 both change them. */

/** Contexts' use cases seal secrets under the context's data key, and destroy it. */
export type ContextDeps = UseCases & WithVault;

export const findContext = async (s: Reads, id: unknown): Promise<ContextRow> => {
  const context = await contextById(s.db, parseUuid(id, 'a context id'));
  if (!context) throw new NotFoundError('context not found: list contexts with GET /api/v2/context?owner-slug=gh/<org>');
  return context;
};

const run = async (s: UseCases, context: CommandContext, found: { ownerSlug: string; name: string; id: string }, command: ContextCommand) => {
  await executeAndWait(s, {
    stream: contextStream(parseOrgSlug(found.ownerSlug), found.name),
    decider: contextDecider,
    command,
    context,
    target: contextTarget({ contextId: found.id, context: found.name }),
  });
};

/** An owner as CircleCI's API names it: `{slug}` (`gh/org`) or `{id}`; an id must be of an organization Gyre knows. */
export const resolveOwner = async (s: Reads, owner: { slug?: unknown; id?: unknown }): Promise<{ id: string; slug: string; key: string }> => {
  if (owner.slug !== undefined && owner.slug !== null) {
    const o = parseOrgSlug(owner.slug);
    return { id: orgId(o.key), slug: o.slug, key: o.key };
  }
  if (typeof owner.id === 'string' && owner.id) {
    const slug = (await projectOrgSlugById(s.db, owner.id)) ?? (await contextOwnerSlugById(s.db, owner.id));
    if (!slug) throw new NotFoundError(`no organization with id ${owner.id.slice(0, 36)} is known to Gyre: name the owner by slug (gh/<org>)`);
    return resolveOwner(s, { slug });
  }
  throw new ValidationError('the owner must be given as a slug (gh/<org>) or an organization id');
};

export const createContext = async (
  s: ContextDeps,
  context: CommandContext,
  by: Member,
  input: { name?: unknown; owner: { slug?: unknown; id?: unknown } },
): Promise<ContextRow> => {
  const name = parseInput(ContextName, input.name, 'context name');
  const owner = await resolveOwner(s, input.owner);
  const contextId = randomUUID();
  await run(s, context, { ownerSlug: owner.slug, name, id: contextId }, { type: 'create', contextId, name, owner: { id: owner.id, slug: owner.slug }, by });
  return written(await contextById(s.db, contextId));
};

/** Deleting a context destroys its data key (workers/context-keys.ts, on `context.delete`): its values can never be decrypted again, not even from the log. */
export const deleteContext = async (s: ContextDeps, context: CommandContext, by: Member, id: unknown): Promise<void> => {
  const found = await findContext(s, id);
  await run(s, context, found, { type: 'delete', contextId: found.id, by });
};

/** Destroys a deleted context's data key; destroying it again does nothing. */
export const destroyContextKey = (s: WithVault, contextId: string): Promise<void> => s.vault.destroy(contextOwner(contextId));

export const storeContextEnvVar = async (
  s: ContextDeps,
  context: CommandContext,
  by: Member,
  id: unknown,
  rawName: unknown,
  rawValue: unknown,
): Promise<EnvVarRow> => {
  const found = await findContext(s, id);
  const { name, value } = parseEnvVar(rawName, rawValue);
  const secret = { sealed: await s.vault.seal(contextOwner(found.id), `env ${name}`, value), masked: mask(value) };
  await run(s, context, found, { type: 'storeEnvVar', contextId: found.id, variable: name, secret, by });
  return written(await contextEnvVar(s.db, found.id, name));
};

export const deleteContextEnvVar = async (s: ContextDeps, context: CommandContext, by: Member, id: unknown, rawName: unknown): Promise<void> => {
  const found = await findContext(s, id);
  const variable = parseInput(EnvVarName, rawName, 'environment variable name');
  await run(s, context, found, { type: 'deleteEnvVar', contextId: found.id, variable, by });
};

export const restrictContext = async (s: ContextDeps, context: CommandContext, id: unknown, rawGroup: unknown): Promise<ContextRow> => {
  const found = await findContext(s, id);
  const group = parseInput(TeamSlug, rawGroup, 'group');
  await run(s, context, found, { type: 'restrict', contextId: found.id, restrictionId: randomUUID(), group });
  return found;
};

export const unrestrictContext = async (s: ContextDeps, context: CommandContext, id: unknown, restrictionId: unknown): Promise<ContextRow> => {
  const found = await findContext(s, id);
  await run(s, context, found, { type: 'unrestrict', contextId: found.id, restrictionId: String(restrictionId) });
  return found;
};
