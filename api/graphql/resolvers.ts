import { GraphQLScalarType } from 'graphql';
import { parseActionFilters } from '../../domain/audit/action-filter.ts';
import { toAuditRecord } from '../../domain/audit/audit-record.ts';
import type { CommandContext } from '../../domain/events/envelope.ts';
import { ValidationError } from '../../domain/errors.ts';
import { parseSettingsInput, settingsDecider, settingsStream, settingsTarget } from '../../domain/system/settings.ts';
import { auditLogPage } from '../../projections/audit-log.ts';
import { systemSettings } from '../../projections/system-settings.ts';
import type { Auth } from '../auth/authenticate.ts';
import { commandContext } from '../request-context.ts';
import type { Services } from '../services.ts';
import type { RequestInfo } from '../../domain/events/envelope.ts';
import { parseAuditQuery } from '../audit-query.ts';
import { decodeCursor, encodeCursor, parsePageSize, toAuditEvent } from './audit.ts';

export interface GraphQLContext {
  readonly auth: Auth;
  readonly requestInfo: RequestInfo;
  /** On a WebSocket: authenticates the connection's token again, for long-lived subscriptions. */
  readonly reauthenticate?: () => Promise<Auth>;
}

const context = (ctx: GraphQLContext): CommandContext => commandContext(ctx.auth, ctx.requestInfo);

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

/** Thin edges: parse, call one command or one read-model query. Authorization wraps them in plugin.ts. */
export const createResolvers = (s: Services) => ({
  JSON: json,
  Query: {
    systemSettings: () => systemSettings(s.db),
    auditLog: async (_: unknown, args: { filter?: unknown; first?: unknown; after?: string | null }) => {
      const query = parseAuditQuery(args.filter);
      const first = parsePageSize(args.first);
      const page = await auditLogPage(s.db, query, first, decodeCursor(args.after));
      const edges = page.records.map((r) => ({ cursor: encodeCursor(r.position), node: toAuditEvent(r.record) }));
      return { edges, pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges[edges.length - 1]?.cursor ?? null } };
    },
  },
  Mutation: {
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
