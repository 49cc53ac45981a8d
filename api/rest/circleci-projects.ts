import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ValidationError } from '../../domain/errors.ts';
import type { EnvVarRow } from '../../projections/env-vars.ts';
import { projectEnvVars, type ProjectRow } from '../../projections/projects.ts';
import { memberOf } from '../../application/members.ts';
import { deleteProjectEnvVar, findProject, findProjectEnvVar, storeProjectEnvVar } from '../../application/projects.ts';
import { requestCommandContext } from '../request-context.ts';
import type { Services } from '../services.ts';
import { nextPageToken, pageSize, pageTokenCursor } from './circleci-paging.ts';

/** A slug comes as three path segments (`gh/org/repo`), or as one with its slashes encoded (`gh%2Forg%2Frepo`). */
type SlugParams = { vcs?: string; org?: string; repo?: string; slug?: string; name?: string };
const slugOf = (req: FastifyRequest) => {
  const p = req.params as SlugParams;
  return p.slug ?? `${p.vcs}/${p.org}/${p.repo}`;
};
const bothForms = (rest: string) => [`/api/v2/project/:vcs/:org/:repo${rest}`, `/api/v2/project/:slug${rest}`];

const project = (p: ProjectRow) => ({
  slug: p.slug,
  name: p.name,
  id: p.id,
  organization_name: p.organization,
  organization_slug: `gh/${p.organization}`,
  organization_id: p.organizationId,
  vcs_info: { vcs_url: p.settings.gitUrl, provider: 'GitHub', default_branch: p.settings.defaultBranch },
});
/** The value is masked, as CircleCI shows it. */
const envVar = (v: EnvVarRow) => ({ name: v.name, value: v.value, created_at: v.createdAt });

const CreateBody = z.object({ name: z.unknown(), value: z.unknown() });

/** CircleCI API v2 projects and project environment variables. */
export const registerCircleCiProjects = (app: FastifyInstance, s: Services) => {
  for (const path of bothForms('')) app.get(path, async (req) => project(await findProject(s, slugOf(req))));

  for (const path of bothForms('/envvar'))
    app.get(path, async (req) => {
      const p = await findProject(s, slugOf(req));
      const page = await projectEnvVars(s.db, p.id, pageSize, pageTokenCursor((req.query as Record<string, string | undefined>)['page-token']));
      return { items: page.envVars.map(envVar), next_page_token: nextPageToken(page.hasNextPage, page.envVars[page.envVars.length - 1]?.name) };
    });

  for (const path of bothForms('/envvar'))
    app.post(path, async (req, reply) => {
      const b = CreateBody.safeParse(req.body);
      if (!b.success) throw new ValidationError('the request body must be JSON like {"name": "FOO", "value": "…"}');
      return reply
        .status(201)
        .send(envVar(await storeProjectEnvVar(s, requestCommandContext(req), await memberOf(s, req.auth), slugOf(req), b.data.name, b.data.value)));
    });

  for (const path of bothForms('/envvar/:name'))
    app.get(path, async (req) => {
      const p = await findProject(s, slugOf(req));
      return envVar(await findProjectEnvVar(s, p, (req.params as SlugParams).name!));
    });

  for (const path of bothForms('/envvar/:name'))
    app.delete(path, async (req) => {
      await deleteProjectEnvVar(s, requestCommandContext(req), await memberOf(s, req.auth), slugOf(req), (req.params as SlugParams).name);
      return { message: 'Environment variable deleted.' };
    });
};
