import type { FastifyInstance } from 'fastify';
import { UnauthorizedError } from '../../domain/errors.ts';
import { userById } from '../../projections/users.ts';
import type { Services } from '../services.ts';

/** CircleCI API v2 `GET /api/v2/me`: the signed-in user as CircleCI's `User` (`{id, login, name}`). */
export const registerCircleCiMe = (app: FastifyInstance, s: Services) => {
  app.get('/api/v2/me', async (req) => {
    const user = req.auth.kind === 'user' ? await userById(s.db, req.auth.user.id) : undefined;
    if (!user) throw new UnauthorizedError('the account behind this token no longer exists');
    return { id: user.id, login: user.login, name: user.name };
  });
};
