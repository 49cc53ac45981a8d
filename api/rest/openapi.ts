import type { FastifyInstance } from 'fastify';
import { routeRules } from '../auth/authorization.ts';

/** `/api/v2/context/:id` → `/context/{id}`; the three parts of a project slug are CircleCI's one `{project-slug}`; parameters CircleCI's spec names otherwise (`{workflow-name}`, `{schedule-id}`) as it names them. */
export const openApiPath = (route: string) =>
  route
    .slice('/api/v2'.length)
    .replace(/:vcs\/:org\/:repo|:slug/, '{project-slug}')
    .replace(/^\/insights\/\{project-slug\}\/workflows\/:name/, '/insights/{project-slug}/workflows/{workflow-name}')
    .replace(/^\/schedule\/:id$/, '/schedule/{schedule-id}')
    .replace(/:([A-Za-z_-]+)/g, '{$1}');

/**
 * `GET /api/v2/openapi.json`: the API v2 paths Gyre serves, from the routes as fastify registers them
 * (so it is called before any API v2 route is). The `circleci` CLI reads it on a server install to decide
 * whether the REST context API is there.
 */
export const registerOpenApi = (app: FastifyInstance) => {
  const served: Array<{ method: string; url: string }> = [];
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/api/v2/')) return;
    for (const method of ([] as string[]).concat(route.method)) if (method !== 'HEAD') served.push({ method, url: route.url });
  });
  let document: object | undefined;
  const build = () => {
    const paths: Record<string, Record<string, { operationId: string; security?: unknown[] }>> = {};
    for (const { method, url } of served) {
      const path = openApiPath(url);
      const open = routeRules[`${method} ${url}`]?.role === 'anonymous';
      paths[path] = { ...paths[path], [method.toLowerCase()]: { operationId: `${method.toLowerCase()} ${path}`, ...(open ? { security: [] } : {}) } };
    }
    return {
      openapi: '3.0.3',
      info: { title: 'Gyre: the CircleCI API v2 subset it serves', version: 'v2' },
      servers: [{ url: '/api/v2' }],
      components: { securitySchemes: { api_key_header: { type: 'apiKey', in: 'header', name: 'Circle-Token' } } },
      security: [{ api_key_header: [] }],
      paths,
    };
  };
  // every route is registered before the server answers its first request
  app.get('/api/v2/openapi.json', async () => (document ??= build()));
};
