import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ValidationError } from '../../domain/errors.ts';
import { contextCursor, contextEnvVars, contextsPage, type ContextRow } from '../../projections/contexts.ts';
import type { EnvVarRow } from '../../projections/env-vars.ts';
import { createContext, deleteContext, deleteContextEnvVar, findContext, resolveOwner, storeContextEnvVar } from '../../application/contexts.ts';
import { memberOf } from '../../application/members.ts';
import { requestCommandContext } from '../request-context.ts';
import type { Services } from '../services.ts';
import { nextPageToken, pageSize, pageTokenCursor } from './circleci-paging.ts';

const context = (c: ContextRow) => ({ id: c.id, name: c.name, created_at: c.createdAt });
/** CircleCI never shows a context variable's value, not even masked. */
const variable = (contextId: string, v: EnvVarRow) => ({ variable: v.name, created_at: v.createdAt, updated_at: v.updatedAt, context_id: contextId });

const OwnerType = z.enum(['organization', 'account']).optional();
const CreateBody = z.object({ name: z.unknown(), owner: z.object({ id: z.string().optional(), slug: z.string().optional(), type: OwnerType }) });
const ValueBody = z.object({ value: z.unknown() });

const body = <T>(schema: z.ZodType<T>, raw: unknown, example: string): T => {
  const r = schema.safeParse(raw);
  if (!r.success) throw new ValidationError(`the request body must be JSON like ${example}`);
  return r.data;
};

/** CircleCI API v2 contexts: the paths, JSON shapes and paging the `circleci` CLI and API clients use. */
export const registerCircleCiContexts = (app: FastifyInstance, s: Services) => {
  app.get('/api/v2/context', async (req) => {
    const q = req.query as Record<string, string | undefined>;
    if (!OwnerType.safeParse(q['owner-type']).success) throw new ValidationError('owner-type must be organization or account');
    if (!q['owner-slug'] && !q['owner-id']) throw new ValidationError('name the owner with owner-slug (gh/<org>) or owner-id');
    const owner = await resolveOwner(s, { slug: q['owner-slug'], id: q['owner-id'] });
    const page = await contextsPage(s.db, owner.key, pageSize, pageTokenCursor(q['page-token']));
    return {
      items: page.contexts.map(context),
      next_page_token: nextPageToken(page.hasNextPage, page.contexts.length ? contextCursor(page.contexts[page.contexts.length - 1]!) : undefined),
    };
  });

  app.post('/api/v2/context', async (req) => {
    const b = body(CreateBody, req.body, '{"name": "deploy", "owner": {"slug": "gh/org", "type": "organization"}}');
    if (b.owner.type === 'account' && !b.owner.id) throw new ValidationError('owner.type account is allowed only with owner.id');
    return context(await createContext(s, requestCommandContext(req), await memberOf(s, req.auth), { name: b.name, owner: b.owner }));
  });

  app.get('/api/v2/context/:id', async (req) => context(await findContext(s, (req.params as { id: string }).id)));

  app.delete('/api/v2/context/:id', async (req) => {
    await deleteContext(s, requestCommandContext(req), await memberOf(s, req.auth), (req.params as { id: string }).id);
    return { message: 'Context deleted.' };
  });

  app.get('/api/v2/context/:id/environment-variable', async (req) => {
    const found = await findContext(s, (req.params as { id: string }).id);
    const page = await contextEnvVars(s.db, found.id, pageSize, pageTokenCursor((req.query as Record<string, string | undefined>)['page-token']));
    return {
      items: page.envVars.map((v) => variable(found.id, v)),
      next_page_token: nextPageToken(page.hasNextPage, page.envVars[page.envVars.length - 1]?.name),
    };
  });

  app.put('/api/v2/context/:id/environment-variable/:name', async (req) => {
    const { id, name } = req.params as { id: string; name: string };
    const { value } = body(ValueBody, req.body, '{"value": "…"}');
    const found = await findContext(s, id);
    return variable(found.id, await storeContextEnvVar(s, requestCommandContext(req), await memberOf(s, req.auth), found.id, name, value));
  });

  app.delete('/api/v2/context/:id/environment-variable/:name', async (req) => {
    const { id, name } = req.params as { id: string; name: string };
    await deleteContextEnvVar(s, requestCommandContext(req), await memberOf(s, req.auth), id, name);
    return { message: 'Environment variable deleted.' };
  });
};
