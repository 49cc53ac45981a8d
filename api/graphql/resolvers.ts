import { randomUUID } from 'node:crypto';
import { GraphQLScalarType } from 'graphql';
import { parseActionFilters } from '../../domain/audit/action-filter.ts';
import { toAuditRecord } from '../../domain/audit/audit-record.ts';
import { UnauthorizedError, ValidationError, describeIssues } from '../../domain/errors.ts';
import { GitHubName } from '../../domain/github-name.ts';
import { parseSettingsInput, settingsDecider, settingsStream, settingsTarget } from '../../domain/system/settings.ts';
import { TokenLabel, UserState, accountsDecider, accountsStream, type AccountCommand } from '../../domain/users/accounts.ts';
import { auditLogPage } from '../../projections/audit-log.ts';
import { systemSettings } from '../../projections/system-settings.ts';
import { activeTokens, seatsInUse, userById, userByLogin, usersPage } from '../../projections/users.ts';
import { parseAuditQuery } from '../audit-query.ts';
import { createAttemptLimit } from '../auth/attempts.ts';
import { generateToken, hashToken } from '../auth/tokens.ts';
import type { Services } from '../services.ts';
import { toAuditEvent } from './audit.ts';
import { contextResolvers } from './contexts.ts';
import { orbResolvers } from './orbs.ts';
import { pipelineResolvers } from './pipelines.ts';
import { projectResolvers } from './projects.ts';
import { runnerResolvers } from './runners.ts';
import { commandContextOf as context, signedIn, type GraphQLContext } from './context.ts';
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

/** Runs one account command and answers with the account as the read model then holds it. */
const accountCommand = async (s: Services, ctx: GraphQLContext, targetLogin: string, command: AccountCommand, targetId?: string) => {
  const known = await userByLogin(s.db, targetLogin);
  const target = { id: targetId ?? known?.id ?? targetLogin, type: 'user', name: known?.login ?? targetLogin };
  const result = await s.commands.execute({ stream: accountsStream, decider: accountsDecider, command, context: context(ctx), target });
  await s.readYourWrites(result.position);
  return userByLogin(s.db, targetLogin);
};
const seats = async (s: Services) => (await systemSettings(s.db)).licenseSeats;

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
    suspendUser: async (_: unknown, args: { login: unknown }, ctx: GraphQLContext) => {
      const l = login(args.login);
      return accountCommand(s, ctx, l, { type: 'suspend', login: l, by: signedIn(ctx).id });
    },
    activateUser: async (_: unknown, args: { login: unknown }, ctx: GraphQLContext) => {
      const l = login(args.login);
      return accountCommand(s, ctx, l, { type: 'activate', login: l, seats: await seats(s) });
    },
    approveUser: async (_: unknown, args: { login: unknown }, ctx: GraphQLContext) => {
      const l = login(args.login);
      const userId = randomUUID();
      return accountCommand(s, ctx, l, { type: 'approve', userId, login: l, seats: await seats(s) }, userId);
    },
    deleteUser: async (_: unknown, args: { login: unknown }, ctx: GraphQLContext) => {
      const l = login(args.login);
      await accountCommand(s, ctx, l, { type: 'delete', login: l, by: signedIn(ctx).id });
      return true;
    },
    grantAdmin: async (_: unknown, args: { login: unknown }, ctx: GraphQLContext) => {
      const l = login(args.login);
      return accountCommand(s, ctx, l, { type: 'grantAdmin', login: l });
    },
    revokeAdmin: async (_: unknown, args: { login: unknown }, ctx: GraphQLContext) => {
      const l = login(args.login);
      return accountCommand(s, ctx, l, { type: 'revokeAdmin', login: l, by: signedIn(ctx).id });
    },
    createApiToken: async (_: unknown, args: { label: unknown }, ctx: GraphQLContext) => {
      const user = signedIn(ctx);
      tokenAttempts(user.id);
      const label = TokenLabel.safeParse(args.label);
      if (!label.success) throw new ValidationError(`invalid label: ${describeIssues(label.error.issues)}`);
      const token = generateToken();
      const tokenId = randomUUID();
      const target = { id: user.id, type: 'user', name: user.login };
      const result = await s.commands.execute({ stream: accountsStream, decider: accountsDecider, command: { type: 'createApiToken', userId: user.id, token: { tokenId, label: label.data, tokenHash: hashToken(token) } }, context: context(ctx), target });
      await s.readYourWrites(result.position);
      const created = (await activeTokens(s.db, user.id)).find((t) => t.id === tokenId)!;
      return { token, apiToken: { ...created, lastUsedAt: null } };
    },
    revokeApiToken: async (_: unknown, args: { id: string }, ctx: GraphQLContext) => {
      const user = signedIn(ctx);
      const target = { id: user.id, type: 'user', name: user.login };
      const result = await s.commands.execute({ stream: accountsStream, decider: accountsDecider, command: { type: 'revokeApiToken', userId: user.id, tokenId: args.id }, context: context(ctx), target });
      await s.readYourWrites(result.position);
      return true;
    },
    updateSystemSettings: async (_: unknown, args: { input: unknown }, ctx: GraphQLContext) => {
      const input = parseSettingsInput({ ...(args.input as object) });
      const result = await s.commands.execute({ stream: settingsStream, decider: settingsDecider, command: { type: 'update', input }, context: context(ctx), target: settingsTarget });
      await s.readYourWrites(result.position);
      return systemSettings(s.db);
    },
  },
  Subscription: {
    events: {
      subscribe: (_: unknown, args: { filter?: { actions?: unknown } | null }) => liveAuditEvents(s, args.filter?.actions ?? undefined),
      resolve: (event: unknown, _args: unknown, ctx: GraphQLContext) => {
        // only a WebSocket connection carries reauthenticate
        if (!ctx.reauthenticate) throw new ValidationError('subscriptions are served over WebSocket at /graphql (graphql-transport-ws), not over HTTP');
        return event;
      },
    },
  },
});

/**
 * Every resolver, by area. Thin edges: parse, call one command or one read-model query.
 * Authorization wraps the root ones in plugin.ts.
 */
export const createResolvers = (s: Services): Record<string, unknown> => {
  const merged: Record<string, Record<string, unknown>> = {};
  for (const area of [accountResolvers(s), projectResolvers(s), contextResolvers(s), orbResolvers(s), pipelineResolvers(s), runnerResolvers(s)]) {
    for (const [type, fields] of Object.entries(area)) merged[type] = { ...merged[type], ...fields };
  }
  return { JSON: json, ...merged };
};
