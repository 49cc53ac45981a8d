import { GraphQLScalarType } from 'graphql';
import { parseActionFilters } from '../../domain/audit/action-filter.ts';
import { toAuditRecord } from '../../domain/audit/audit-record.ts';
import { UnauthorizedError, ValidationError, describeIssues } from '../../domain/errors.ts';
import { GitHubName } from '../../domain/github-name.ts';
import { TokenLabel, UserState } from '../../domain/users/accounts.ts';
import { auditLogPage } from '../../projections/audit-log.ts';
import { systemSettings } from '../../projections/system-settings.ts';
import { activeTokens, seatsInUse, userById, userByLogin, usersPage } from '../../projections/users.ts';
import { activateUser, approveUser, createApiToken, deleteUser, grantAdmin, revokeAdmin, revokeApiToken, suspendUser } from '../../application/accounts.ts';
import { updateSystemSettings } from '../../application/settings.ts';
import { vmResolvers } from './vm.ts';
import { parseAuditQuery } from '../../application/audit-query.ts';
import { createAttemptLimit } from '../auth/attempts.ts';
import type { Services } from '../services.ts';
import { toAuditEvent } from './audit.ts';
import { contextResolvers } from './contexts.ts';
import { jobResolvers } from './jobs.ts';
import { orbResolvers } from './orbs.ts';
import { pipelineResolvers } from './pipelines.ts';
import { projectionResolvers } from './projections.ts';
import { projectResolvers } from './projects.ts';
import { runnerResolvers } from './runners.ts';
import { commandContextOf as context, overWebSocket, signedIn, type GraphQLContext } from './context.ts';
import { connection, decodeCursor, parsePageSize } from './paging.ts';

const json = new GraphQLScalarType({
  name: 'JSON',
  serialize: (v) => v,
  parseValue: (v) => v,
});

/** Live audit events from the event store; `return()` stops the store subscription at once. */
const liveAuditEvents = (s: Services, actions: unknown): AsyncIterableIterator<ReturnType<typeof toAuditEvent>> => {
  const filter = { types: parseActionFilters(actions as string[] | undefined) };
  const controller = new AbortController();
  async function* events() {
    for await (const page of s.store.subscribe('end', { filter, signal: controller.signal })) {
      for (const e of page.events) yield toAuditEvent(toAuditRecord(e, s.registry));
    }
  }
  const inner = events();
  return {
    next: () => inner.next(),
    return: async () => {
      controller.abort();
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
};

const login = (raw: unknown): string => {
  const r = GitHubName.safeParse(raw);
  if (!r.success) throw new ValidationError(`invalid login: ${describeIssues(r.error.issues)}`);
  return r.data;
};

/** Token creation is rate-limited per user. */
const tokenAttempts = createAttemptLimit(10, 60_000);

/** Accounts, tokens, settings and the audit log. */
const accountResolvers = (s: Services) => ({
  Query: {
    systemSettings: () => systemSettings(s.db),
    me: async (_: unknown, _args: unknown, ctx: GraphQLContext) => {
      const user = await userById(s.db, signedIn(ctx).id);
      if (!user) throw new UnauthorizedError('the account behind this token no longer exists');
      return user;
    },
    users: async (_: unknown, args: { state?: unknown; first?: unknown; after?: string | null }) => {
      const state = args.state == null ? undefined : UserState.parse(args.state);
      const page = await usersPage(s.db, state, parsePageSize(args.first), decodeCursor(args.after));
      return connection(page.users, page.hasNextPage, (u) => u.login);
    },
    user: async (_: unknown, args: { login: unknown }) => (await userByLogin(s.db, login(args.login))) ?? null,
    apiTokens: async (_: unknown, _args: unknown, ctx: GraphQLContext) => {
      const tokens = await activeTokens(s.db, signedIn(ctx).id);
      const used = await s.tokenUsage.lastUsed(tokens.map((t) => t.id));
      return tokens.map((t) => ({ ...t, lastUsedAt: used.get(t.id) ?? null }));
    },
    auditLog: async (_: unknown, args: { filter?: unknown; first?: unknown; after?: string | null }) => {
      const query = parseAuditQuery(args.filter);
      const first = parsePageSize(args.first);
      const page = await auditLogPage(s.db, query, first, decodeCursor(args.after));
      const c = connection(page.records, page.hasNextPage, (r) => r.position);
      return { ...c, edges: c.edges.map((e) => ({ cursor: e.cursor, node: toAuditEvent(e.node.record) })) };
    },
  },
  SystemSettings: {
    seatsUsed: () => seatsInUse(s.db),
  },
  Mutation: {
    suspendUser: (_: unknown, args: { login: unknown }, ctx: GraphQLContext) => suspendUser(s, context(ctx), signedIn(ctx), login(args.login)),
    activateUser: (_: unknown, args: { login: unknown }, ctx: GraphQLContext) => activateUser(s, context(ctx), login(args.login)),
    approveUser: (_: unknown, args: { login: unknown }, ctx: GraphQLContext) => approveUser(s, context(ctx), login(args.login)),
    deleteUser: async (_: unknown, args: { login: unknown }, ctx: GraphQLContext) => {
      await deleteUser(s, context(ctx), signedIn(ctx), login(args.login));
      return true;
    },
    grantAdmin: (_: unknown, args: { login: unknown }, ctx: GraphQLContext) => grantAdmin(s, context(ctx), login(args.login)),
    revokeAdmin: (_: unknown, args: { login: unknown }, ctx: GraphQLContext) => revokeAdmin(s, context(ctx), signedIn(ctx), login(args.login)),
    createApiToken: async (_: unknown, args: { label: unknown }, ctx: GraphQLContext) => {
      const user = signedIn(ctx);
      tokenAttempts(user.id);
      const label = TokenLabel.safeParse(args.label);
      if (!label.success) throw new ValidationError(`invalid label: ${describeIssues(label.error.issues)}`);
      const created = await createApiToken(s, context(ctx), user, label.data);
      return { token: created.token, apiToken: { ...created.apiToken, lastUsedAt: null } };
    },
    revokeApiToken: async (_: unknown, args: { id: string }, ctx: GraphQLContext) => {
      await revokeApiToken(s, context(ctx), signedIn(ctx), args.id);
      return true;
    },
    updateSystemSettings: (_: unknown, args: { input: unknown }, ctx: GraphQLContext) => updateSystemSettings(s, context(ctx), { ...(args.input as object) }),
  },
  Subscription: {
    events: {
      subscribe: (_: unknown, args: { filter?: { actions?: unknown } | null }) => liveAuditEvents(s, args.filter?.actions ?? undefined),
      resolve: overWebSocket,
    },
  },
});

/**
 * Every resolver, by area. Thin edges: parse, call one command or one read-model query.
 * Authorization wraps the root ones in plugin.ts.
 */
export const createResolvers = (s: Services): Record<string, unknown> => {
  const merged: Record<string, Record<string, unknown>> = {};
  for (const area of [
    accountResolvers(s),
    projectResolvers(s),
    contextResolvers(s),
    orbResolvers(s),
    pipelineResolvers(s),
    jobResolvers(s),
    runnerResolvers(s),
    projectionResolvers(s),
    vmResolvers(s),
  ]) {
    for (const [type, fields] of Object.entries(area)) merged[type] = { ...merged[type], ...fields };
  }
  return { JSON: json, ...merged };
};
