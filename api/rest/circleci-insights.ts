import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ValidationError } from '../../domain/errors.ts';
import { flakyTestsInsights, jobsInsights, workflowRunsInsights, workflowsInsights, type InsightsQuery } from '../../application/insights.ts';
import { findProject } from '../../application/projects.ts';
import type { Services } from '../services.ts';
import { nextPageToken, pageSize, pageTokenCursor } from './circleci-paging.ts';

type Params = { vcs?: string; org?: string; repo?: string; slug?: string; name?: string };
const slugOf = (req: FastifyRequest) => {
  const p = req.params as Params;
  return p.slug ?? `${p.vcs}/${p.org}/${p.repo}`;
};
const both = (rest: string) => [`/api/v2/insights/:vcs/:org/:repo${rest}`, `/api/v2/insights/:slug${rest}`];
const query = (req: FastifyRequest) => {
  const q = req.query as Record<string, unknown>;
  for (const [k, v] of Object.entries(q)) if (typeof v !== 'string') throw new ValidationError(`${k} is given once`);
  return q as InsightsQuery & { 'page-token'?: string };
};
const workflowName = (req: FastifyRequest) => {
  const name = (req.params as Params).name ?? '';
  if (!name || name.length > 255) throw new ValidationError('a workflow name is 1 to 255 characters');
  return name;
};
/** A page token over names: the last name of the previous page. */
const nameCursor = (req: FastifyRequest) => pageTokenCursor(query(req)['page-token']);

/** CircleCI API v2 Insights: workflow and job metrics, a workflow's runs, flaky tests. */
export const registerCircleCiInsights = (app: FastifyInstance, s: Services) => {
  for (const path of both('/workflows')) {
    app.get(path, async (req) => {
      const project = await findProject(s, slugOf(req));
      const page = await workflowsInsights(s, project, query(req), { after: nameCursor(req), limit: pageSize });
      return { items: page.items, next_page_token: nextPageToken(page.hasNextPage, page.items.at(-1)?.name) };
    });
  }
  for (const path of both('/workflows/:name')) {
    app.get(path, async (req) => {
      const project = await findProject(s, slugOf(req));
      const cursor = pageTokenCursor(query(req)['page-token']);
      const m = cursor === undefined ? undefined : /^(\d{4}-\d\d-\d\dT[\d:.]+Z)\|([0-9a-f-]{36})$/.exec(cursor);
      if (m === null) throw new ValidationError('page-token is not a token this API gave out');
      const page = await workflowRunsInsights(s, project, workflowName(req), query(req), {
        after: m ? { createdAt: m[1]!, id: m[2]! } : undefined,
        limit: pageSize,
      });
      return { items: page.items, next_page_token: nextPageToken(page.hasNextPage, page.last ? `${page.last.createdAt}|${page.last.id}` : undefined) };
    });
  }
  for (const path of both('/workflows/:name/jobs')) {
    app.get(path, async (req) => {
      const project = await findProject(s, slugOf(req));
      const page = await jobsInsights(s, project, workflowName(req), query(req), { after: nameCursor(req), limit: pageSize });
      return { items: page.items, next_page_token: nextPageToken(page.hasNextPage, page.items.at(-1)?.name) };
    });
  }
  for (const path of both('/flaky-tests')) {
    app.get(path, async (req) => flakyTestsInsights(s, await findProject(s, slugOf(req))));
  }
};
