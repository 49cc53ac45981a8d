import type { FastifyInstance } from 'fastify';
import { NotFoundError, UnauthorizedError } from '../../domain/errors.ts';
import { parseUuid } from '../../domain/ids.ts';
import { orgId } from '../../domain/projects/slugs.ts';
import { orgsOf } from '../../projections/memberships.ts';
import { userById } from '../../projections/users.ts';
import type { Services } from '../services.ts';

/**
 * CircleCI API v2 users: `GET /api/v2/me` (the signed-in user as CircleCI's `User`, `{id, login, name}`),
 * `GET /api/v2/me/collaborations` (their GitHub organizations, as read at their last sign-in) and
 * `GET /api/v2/user/{id}`.
 */
export const registerCircleCiMe = (app: FastifyInstance, s: Services) => {
  const signedIn = async (auth: { kind: string; user?: { id: string } }) => {
    const user = auth.kind === 'user' && auth.user ? await userById(s.db, auth.user.id) : undefined;
    if (!user) throw new UnauthorizedError('the account behind this token no longer exists');
    return user;
  };
  app.get('/api/v2/me', async (req) => {
    const user = await signedIn(req.auth);
    return { id: user.id, login: user.login, name: user.name };
  });
  app.get('/api/v2/me/collaborations', async (req) => {
    const user = await signedIn(req.auth);
    return (await orgsOf(s.db, user.id)).map((org) => ({
      id: orgId(`gh/${org}`),
      'vcs-type': 'github',
      name: org,
      avatar_url: `https://github.com/${org}.png`,
      slug: `gh/${org}`,
    }));
  });
  app.get('/api/v2/user/:id', async (req) => {
    const user = await userById(s.db, parseUuid((req.params as { id?: string }).id, 'the id in the path'));
    if (!user) throw new NotFoundError('user not found');
    return { id: user.id, login: user.login, name: user.name };
  });
};
