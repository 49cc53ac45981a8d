import { NotFoundError } from '../../domain/errors.ts';
import { parseOrgSlug } from '../../domain/projects/slugs.ts';
import { contextCursor, contextEnvVars, contextRestrictions, contextsPage, type ContextRow } from '../../projections/contexts.ts';
import {
  createContext,
  deleteContext,
  deleteContextEnvVar,
  findContext,
  restrictContext,
  storeContextEnvVar,
  unrestrictContext,
} from '../../application/contexts.ts';
import { memberOf } from '../../application/members.ts';
import { rotateMasterKey } from '../../application/master-key.ts';
import type { Services } from '../services.ts';
import { commandContextOf as context, type GraphQLContext } from './context.ts';
import { connection, decodeCursor, parsePageSize } from './paging.ts';

type Page = { first?: unknown; after?: string | null };

/** Contexts, their variables and restrictions, and the master key: thin over application/contexts.ts. */
export const contextResolvers = (s: Services) => ({
  Query: {
    contexts: async (_: unknown, args: Page & { owner: unknown }) => {
      const page = await contextsPage(s.db, parseOrgSlug(args.owner).key, parsePageSize(args.first), decodeCursor(args.after));
      return connection(page.contexts, page.hasNextPage, contextCursor);
    },
    context: (_: unknown, args: { id: unknown }) =>
      findContext(s, args.id).catch((e: unknown) => {
        if (e instanceof NotFoundError) return null;
        throw e;
      }),
  },
  Mutation: {
    createContext: async (_: unknown, args: { input: { owner: unknown; name: unknown } }, ctx: GraphQLContext) =>
      createContext(s, context(ctx), await memberOf(s, ctx.auth), { name: args.input.name, owner: { slug: args.input.owner } }),
    deleteContext: async (_: unknown, args: { id: unknown }, ctx: GraphQLContext) => {
      await deleteContext(s, context(ctx), await memberOf(s, ctx.auth), args.id);
      return true;
    },
    storeContextEnvVar: async (_: unknown, args: { contextId: unknown; name: unknown; value: unknown }, ctx: GraphQLContext) =>
      storeContextEnvVar(s, context(ctx), await memberOf(s, ctx.auth), args.contextId, args.name, args.value),
    deleteContextEnvVar: async (_: unknown, args: { contextId: unknown; name: unknown }, ctx: GraphQLContext) => {
      await deleteContextEnvVar(s, context(ctx), await memberOf(s, ctx.auth), args.contextId, args.name);
      return true;
    },
    addContextRestriction: (_: unknown, args: { contextId: unknown; group: unknown }, ctx: GraphQLContext) =>
      restrictContext(s, context(ctx), args.contextId, args.group),
    removeContextRestriction: (_: unknown, args: { contextId: unknown; restrictionId: unknown }, ctx: GraphQLContext) =>
      unrestrictContext(s, context(ctx), args.contextId, args.restrictionId),
    rotateMasterKey: async (_: unknown, _args: unknown, ctx: GraphQLContext) => {
      const r = await rotateMasterKey(s, context(ctx));
      return { keyId: r.toKeyId, previousKeyIds: r.fromKeyIds, rewrapped: r.rewrapped };
    },
  },
  Context: {
    owner: (c: ContextRow) => ({ id: c.ownerId, slug: c.ownerSlug, type: 'organization' }),
    envVars: async (c: ContextRow, args: Page) => {
      const page = await contextEnvVars(s.db, c.id, parsePageSize(args.first), decodeCursor(args.after));
      return connection(page.envVars, page.hasNextPage, (v) => v.name);
    },
    restrictions: (c: ContextRow) => contextRestrictions(s.db, c.id),
  },
});
