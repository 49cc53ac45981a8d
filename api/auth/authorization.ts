import { ForbiddenError, UnauthorizedError } from '../../domain/errors.ts';
import type { Auth } from './authenticate.ts';

export type Role = 'anonymous' | 'user' | 'admin';

/** Who may do it, and for guarded operations the audit action a refusal is recorded under. */
export type Rule = { readonly role: 'anonymous' } | { readonly role: 'user' | 'admin'; readonly action: string };

/**
 * Who may do what: every GraphQL root field and every HTTP route has one line here.
 * A field or route without a line fails at start-up and in the matrix test.
 */
export const graphqlRules: Readonly<Record<string, Rule>> = {
  'Query.systemSettings': { role: 'user', action: 'system.settings.read' },
  'Query.auditLog': { role: 'admin', action: 'audit_log.read' },
  'Query.me': { role: 'user', action: 'user.read' },
  'Query.apiTokens': { role: 'user', action: 'user.read' },
  'Mutation.createApiToken': { role: 'user', action: 'user.api_token.create' },
  'Mutation.revokeApiToken': { role: 'user', action: 'user.api_token.revoke' },
  'Query.users': { role: 'admin', action: 'user.read' },
  'Query.user': { role: 'admin', action: 'user.read' },
  'Mutation.suspendUser': { role: 'admin', action: 'user.suspend' },
  'Mutation.activateUser': { role: 'admin', action: 'user.activate' },
  'Mutation.approveUser': { role: 'admin', action: 'user.approve' },
  'Mutation.deleteUser': { role: 'admin', action: 'user.delete' },
  'Mutation.grantAdmin': { role: 'admin', action: 'user.admin.grant' },
  'Mutation.revokeAdmin': { role: 'admin', action: 'user.admin.revoke' },
  'Mutation.updateSystemSettings': { role: 'admin', action: 'system.settings.update' },
  'Subscription.events': { role: 'admin', action: 'audit_log.subscribe' },
};

export const routeRules: Readonly<Record<string, Rule>> = {
  'GET /healthz': { role: 'anonymous' },
  'GET /readyz': { role: 'anonymous' },
  'GET /admin/audit-log.csv': { role: 'admin', action: 'audit_log.export' },
  'GET /api/v2/me': { role: 'user', action: 'user.read' },
  'GET /': { role: 'anonymous' },
  'GET /auth/github': { role: 'anonymous' },
  'GET /auth/github/callback': { role: 'anonymous' },
  'POST /auth/logout': { role: 'anonymous' },
  // GraphQL authorizes each root field by graphqlRules
  'GET /graphql': { role: 'anonymous' },
  'POST /graphql': { role: 'anonymous' },
};

/** Throws UnauthorizedError (401) or ForbiddenError (403), naming what would let the caller in. */
export const authorize = (rule: Rule, auth: Auth): void => {
  if (rule.role === 'anonymous') return;
  if (auth.kind === 'invalid') throw new UnauthorizedError(`${auth.reason}: send a valid token as "Authorization: Bearer <token>" or "Circle-Token: <token>"`);
  if (auth.kind === 'anonymous') throw new UnauthorizedError('authentication required: send an API token as "Authorization: Bearer <token>" or "Circle-Token: <token>"');
  if (rule.role === 'admin' && !auth.user.isAdmin) throw new ForbiddenError(`${auth.user.login} is not an administrator: ask an admin to grant admin rights`);
};
