import type { FastifyInstance } from 'fastify';
import { routeRules } from '../auth/authorization.ts';

/** `/api/v2/context/:id` → `/context/{id}`; the three parts of a project slug are CircleCI's one `{project-slug}`. */
const openApiPath = (route: string) =>
  route
    .slice('/api/v2'.length)
    .replace(/:vcs\/:org\/:repo|:slug/, '{project-slug}')
    .replace(/:([A-Za-z_-]+)/g, '{$1}');

/**
 * `GET /api/v2/openapi.json`: the API v2 paths Gyre serves, from the route table itself. The `circleci`
 * CLI reads it on a server install to decide whether the REST context API is there.
 */
export const registerOpenApi = (app: FastifyInstance) => {
  const paths: Record<string, Record<string, { operationId: string; security?: unknown[] }>> = {};
  for (const [key, rule] of Object.entries(routeRules)) {
    const [method, route] = key.split(' ') as [string, string];
    if (!route.startsWith('/api/v2/')) continue;
    const path = openApiPath(route);
    paths[path] = { ...paths[path], [method.toLowerCase()]: { operationId: `${method.toLowerCase()} ${path}`, ...(rule.role === 'anonymous' ? { security: [] } : {}) } };
  }
  const document = {
    openapi: '3.0.3',
    info: { title: 'Gyre: the CircleCI API v2 subset it serves', version: 'v2' },
    servers: [{ url: '/api/v2' }],
    components: { securitySchemes: { api_key_header: { type: 'apiKey', in: 'header', name: 'Circle-Token' } } },
    security: [{ api_key_header: [] }],
    paths,
  };
  app.get('/api/v2/openapi.json', async () => document);
};
