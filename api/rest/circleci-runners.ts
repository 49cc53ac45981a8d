import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  createResourceClass,
  createRunnerToken,
  deleteResourceClass,
  deleteRunnerToken,
  listResourceClasses,
  listRunnerTokens,
} from '../../application/runners.ts';
import { ValidationError } from '../../domain/errors.ts';
import type { ResourceClassRow, RunnerTokenRow } from '../../projections/runners.ts';
import { runnerApiPrefixes } from '../auth/authorization.ts';
import { requestCommandContext } from '../request-context.ts';
import type { Services } from '../services.ts';

const resourceClass = (c: ResourceClassRow) => ({ id: c.id, resource_class: c.resourceClass, description: c.description });
const token = (t: RunnerTokenRow) => ({ id: t.id, resource_class: t.resourceClass, nickname: t.nickname, created_at: t.createdAt });

const body = <T>(schema: z.ZodType<T>, raw: unknown, example: string): T => {
  const r = schema.safeParse(raw);
  if (!r.success) throw new ValidationError(`the request body must be JSON like ${example}`);
  return r.data;
};
const ClassBody = z.object({ resource_class: z.unknown(), description: z.unknown().optional() });
const TokenBody = z.object({ resource_class: z.unknown(), nickname: z.unknown() });

/** `{id}` is the class's id, as the CLI sends it; `namespace/name` (one encoded segment) is taken too. */
const classRef = (raw: string) => (raw.includes('/') ? { name: raw } : { id: raw });

/**
 * CircleCI's runner API: the paths, JSON shapes and `{"message": …}` errors the `circleci` CLI's
 * `runner resource-class` and `runner token` commands use.
 */
export const registerCircleCiRunners = (app: FastifyInstance, s: Services) => {
  for (const p of runnerApiPrefixes) {
    app.get(`${p}/runner/resource`, async (req) => {
      const q = req.query as Record<string, string | undefined>;
      if (!q.namespace) throw new ValidationError('name the namespace: GET /api/v3/runner/resource?namespace=<namespace>');
      return { items: (await listResourceClasses(s, q.namespace)).map(resourceClass) };
    });

    app.post(`${p}/runner/resource`, async (req) => {
      const b = body(ClassBody, req.body, '{"resource_class": "my-org/my-runner", "description": "…"}');
      return resourceClass(await createResourceClass(s, requestCommandContext(req), { resourceClass: b.resource_class, description: b.description ?? '' }));
    });

    app.delete(`${p}/runner/resource/:id`, async (req) => {
      const rc = await deleteResourceClass(s, requestCommandContext(req), classRef((req.params as { id: string }).id));
      return { message: `Resource class ${rc.resourceClass} deleted.` };
    });

    app.delete(`${p}/runner/resource/:id/force`, async (req) => {
      const rc = await deleteResourceClass(s, requestCommandContext(req), classRef((req.params as { id: string }).id), true);
      return { message: `Resource class ${rc.resourceClass} and its tokens deleted.` };
    });

    app.get(`${p}/runner/token`, async (req) => {
      const name = (req.query as Record<string, string | undefined>)['resource-class'];
      if (!name) throw new ValidationError('name the resource class: GET /api/v3/runner/token?resource-class=<namespace>/<name>');
      return { items: (await listRunnerTokens(s, name)).map(token) };
    });

    app.post(`${p}/runner/token`, async (req) => {
      const b = body(TokenBody, req.body, '{"resource_class": "my-org/my-runner", "nickname": "…"}');
      const created = await createRunnerToken(s, requestCommandContext(req), { resourceClass: b.resource_class, nickname: b.nickname });
      return { ...token(created.row), token: created.token };
    });

    app.delete(`${p}/runner/token/:id`, async (req) => {
      await deleteRunnerToken(s, requestCommandContext(req), (req.params as { id: string }).id);
      return { message: 'Token deleted.' };
    });
  }
};
