import { z } from 'zod';
import { DomainError, ForbiddenError, NotFoundError } from '../errors.ts';
import { requireOrgMember } from '../organizations.ts';
import { defineEvent, type EventOf } from '../events/registry.ts';
import { SealedSecret } from '../secrets/secret-value.ts';
import type { Decider } from '../decider.ts';
import type { OrgSlug } from '../projects/slugs.ts';
import { mayUseContext, type Member, type Restriction } from './access.ts';

/**
 * A context is a name within an organization: one stream per (organization, lower-cased name), so
 * two contexts of one name can never both be created. Deleting it ends that context for good; a
 * context created later under the same name is a new one, with a new id and a new data key.
 */
export const contextStream = (owner: OrgSlug, name: string) => `context-${owner.key}/${name.toLowerCase()}`;
export const contextTarget = (c: { contextId: string; context: string }) => ({ id: c.contextId, type: 'context', name: c.context });

export const ContextName = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]*$/, 'must start with a letter or digit and hold only letters, digits, spaces, dots, dashes and underscores');

/** A GitHub team's slug, as in github.com/orgs/<org>/teams/<slug>. */
export const TeamSlug = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_.-]{1,100}$/, 'must be a GitHub team slug (letters, digits, ., _ and -)');

const Owner = z.object({ id: z.string(), slug: z.string(), type: z.literal('organization') });
const ref = { contextId: z.string(), context: z.string() };
export const contextCreated = defineEvent('context.create', z.object({ ...ref, owner: Owner }), { publicFields: ['contextId', 'context', 'owner'] });
export const contextDeleted = defineEvent('context.delete', z.object(ref), { publicFields: ['contextId', 'context'] });
export const contextEnvVarStored = defineEvent('context.env_var.store', z.object({ ...ref, variable: z.string(), secret: SealedSecret }), {
  publicFields: ['contextId', 'context', 'variable'],
});
export const contextEnvVarDeleted = defineEvent('context.env_var.delete', z.object({ ...ref, variable: z.string() }), {
  publicFields: ['contextId', 'context', 'variable'],
});
const RestrictionData = z.object({ ...ref, restrictionId: z.string(), type: z.literal('group'), value: z.string() });
export const contextRestrictionCreated = defineEvent('context.restriction.create', RestrictionData, {
  publicFields: ['contextId', 'context', 'restrictionId', 'type', 'value'],
});
export const contextRestrictionDeleted = defineEvent('context.restriction.delete', RestrictionData, {
  publicFields: ['contextId', 'context', 'restrictionId', 'type', 'value'],
});
/** Appended by job dispatch each time it decrypts a context's values; never on the context's own stream. */
export const contextSecretsAccessed = defineEvent(
  'context.secrets.accessed',
  z.object({ ...ref, variables: z.array(z.string()), purpose: z.string(), projectSlug: z.string().nullable(), jobId: z.string().nullable() }),
  { publicFields: ['contextId', 'context', 'variables', 'purpose', 'projectSlug', 'jobId'] },
);
export const contextSecretsStream = (contextId: string) => `context-secrets-${contextId}`;
export const contextEvents = [
  contextCreated,
  contextDeleted,
  contextEnvVarStored,
  contextEnvVarDeleted,
  contextRestrictionCreated,
  contextRestrictionDeleted,
  contextSecretsAccessed,
];

export type ContextEvent =
  | EventOf<typeof contextCreated>
  | EventOf<typeof contextDeleted>
  | EventOf<typeof contextEnvVarStored>
  | EventOf<typeof contextEnvVarDeleted>
  | EventOf<typeof contextRestrictionCreated>
  | EventOf<typeof contextRestrictionDeleted>;

/** `by`: who asks; a restricted context's values and life are in the hands of its groups' members and admins. */
export type ContextCommand =
  | { type: 'create'; contextId: string; name: string; owner: { id: string; slug: string }; by: Member }
  | { type: 'delete'; contextId: string; by: Member }
  | { type: 'storeEnvVar'; contextId: string; variable: string; secret: SealedSecret; by: Member }
  | { type: 'deleteEnvVar'; contextId: string; variable: string; by: Member }
  | { type: 'restrict'; contextId: string; restrictionId: string; group: string }
  | { type: 'unrestrict'; contextId: string; restrictionId: string };

export interface Context {
  readonly contextId: string;
  readonly name: string;
  readonly owner: { id: string; slug: string };
  readonly envVars: ReadonlyMap<string, SealedSecret>;
  readonly restrictions: ReadonlyArray<Restriction>;
}
/** The live context of this name, or null (never created, or deleted). */
export type ContextState = Context | null;

const live = (s: ContextState, contextId: string): Context => {
  if (!s || s.contextId !== contextId) throw new NotFoundError('no such context: list them with `contexts` or GET /api/v2/context', 'CONTEXT_NOT_FOUND');
  return s;
};
const mayChange = (c: Context, by: Member) => {
  requireOrgMember(by, c.owner.slug);
  const access = mayUseContext(c.restrictions, c.owner.slug, by);
  if (!by.isAdmin && !access.allowed) throw new ForbiddenError(`${access.reason}: only its groups' members and admins may change it`, 'CONTEXT_RESTRICTED');
};
const refOf = (c: Context) => ({ contextId: c.contextId, context: c.name });

export const contextDecider: Decider<ContextState, ContextCommand, ContextEvent> = {
  initialState: () => null,
  evolve: (s, e) => {
    if (e.type === 'context.create')
      return {
        contextId: e.data.contextId,
        name: e.data.context,
        owner: { id: e.data.owner.id, slug: e.data.owner.slug },
        envVars: new Map(),
        restrictions: [],
      };
    if (!s || s.contextId !== e.data.contextId) return s;
    switch (e.type) {
      case 'context.delete':
        return null;
      case 'context.env_var.store':
        return { ...s, envVars: new Map(s.envVars).set(e.data.variable, e.data.secret) };
      case 'context.env_var.delete': {
        const envVars = new Map(s.envVars);
        envVars.delete(e.data.variable);
        return { ...s, envVars };
      }
      case 'context.restriction.create':
        return { ...s, restrictions: [...s.restrictions, { id: e.data.restrictionId, type: e.data.type, value: e.data.value }] };
      case 'context.restriction.delete':
        return { ...s, restrictions: s.restrictions.filter((r) => r.id !== e.data.restrictionId) };
    }
  },
  decide: (c, s) => {
    switch (c.type) {
      case 'create':
        requireOrgMember(c.by, c.owner.slug);
        if (s) throw new DomainError('CONTEXT_EXISTS', `${c.owner.slug} already has a context named ${s.name}`);
        return [{ type: 'context.create', data: { contextId: c.contextId, context: c.name, owner: { ...c.owner, type: 'organization' } } }];
      case 'delete': {
        const ctx = live(s, c.contextId);
        mayChange(ctx, c.by);
        return [{ type: 'context.delete', data: refOf(ctx) }];
      }
      case 'storeEnvVar': {
        const ctx = live(s, c.contextId);
        mayChange(ctx, c.by);
        return [{ type: 'context.env_var.store', data: { ...refOf(ctx), variable: c.variable, secret: c.secret } }];
      }
      case 'deleteEnvVar': {
        const ctx = live(s, c.contextId);
        mayChange(ctx, c.by);
        if (!ctx.envVars.has(c.variable)) throw new NotFoundError(`context ${ctx.name} has no environment variable ${c.variable}`, 'ENV_VAR_NOT_FOUND');
        return [{ type: 'context.env_var.delete', data: { ...refOf(ctx), variable: c.variable } }];
      }
      case 'restrict': {
        const ctx = live(s, c.contextId);
        const group = c.group.toLowerCase();
        if (ctx.restrictions.some((r) => r.value === group)) return [];
        return [{ type: 'context.restriction.create', data: { ...refOf(ctx), restrictionId: c.restrictionId, type: 'group', value: group } }];
      }
      case 'unrestrict': {
        const ctx = live(s, c.contextId);
        const r = ctx.restrictions.find((x) => x.id === c.restrictionId);
        if (!r) throw new NotFoundError(`context ${ctx.name} has no restriction with that id`, 'RESTRICTION_NOT_FOUND');
        return [{ type: 'context.restriction.delete', data: { ...refOf(ctx), restrictionId: r.id, type: r.type, value: r.value } }];
      }
    }
  },
};
