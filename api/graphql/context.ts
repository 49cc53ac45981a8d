import { UnauthorizedError, ValidationError } from '../../domain/errors.ts';
import type { CommandContext, RequestInfo } from '../../domain/events/envelope.ts';
import type { Auth } from '../auth/authenticate.ts';
import { commandContext } from '../request-context.ts';
import type { Connection } from './subscription-limits.ts';

export interface GraphQLContext {
  readonly auth: Auth;
  readonly requestInfo: RequestInfo;
  /** On a WebSocket: authenticates the connection's token again, for long-lived subscriptions. */
  readonly reauthenticate?: () => Promise<Auth>;
  /** On a WebSocket: what its subscriptions share (their count, closing it). */
  readonly connection?: Connection;
}

/** The audit envelope's actor and request for the commands a resolver runs. */
export const commandContextOf = (ctx: GraphQLContext): CommandContext => commandContext(ctx.auth, ctx.requestInfo);

/** A subscription's `resolve`: only a WebSocket connection carries `reauthenticate`, so over HTTP it says where subscriptions are served. */
export const overWebSocket = (message: unknown, _args: unknown, ctx: GraphQLContext): unknown => {
  if (!ctx.reauthenticate) throw new ValidationError('subscriptions are served over WebSocket at /graphql (graphql-transport-ws), not over HTTP');
  return message;
};

/** The signed-in user; the guard has already refused anyone else. */
export const signedIn = (ctx: GraphQLContext) => {
  if (ctx.auth.kind !== 'user') throw new UnauthorizedError('authentication required');
  return ctx.auth.user;
};
