import { UnauthorizedError } from '../../domain/errors.ts';
import type { Auth } from './authenticate.ts';

/** The signed-in user behind a request; anyone else is refused 401, as GraphQL refuses them. */
export const signedInUser = (auth: Auth) => {
  if (auth.kind !== 'user') throw new UnauthorizedError('authentication required: sign in, or send a user’s API token as "Circle-Token: <token>"');
  return auth.user;
};
