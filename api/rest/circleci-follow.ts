import type { FastifyInstance, FastifyRequest } from 'fastify';
import { followProject, unfollowProject } from '../../application/follows.ts';
import { memberOf } from '../../application/members.ts';
import { signedInUser } from '../auth/signed-in.ts';
import { requestCommandContext } from '../request-context.ts';
import type { Services } from '../services.ts';

const slugOf = (req: FastifyRequest) => {
  const p = req.params as { vcs: string; org: string; repo: string };
  return `${p.vcs}/${p.org}/${p.repo}`;
};
const caller = (req: FastifyRequest) => signedInUser(req.auth);

/**
 * CircleCI API v1.1's follow and unfollow, as GraphQL's createProject (without a gitUrl: the
 * repository on the GitHub host) and unfollowProject do them.
 */
export const registerCircleCiFollow = (app: FastifyInstance, s: Services) => {
  app.post('/api/v1.1/project/:vcs/:org/:repo/follow', async (req) => {
    await followProject(s, requestCommandContext(req), await memberOf(s, req.auth), caller(req), { slug: slugOf(req) });
    return { following: true, workflow: true, first_build: null };
  });
  app.post('/api/v1.1/project/:vcs/:org/:repo/unfollow', async (req) => {
    await unfollowProject(s, requestCommandContext(req), await memberOf(s, req.auth), caller(req), slugOf(req));
    return { following: false };
  });
};
