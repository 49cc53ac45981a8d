import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fastifyWebsocket from '@fastify/websocket';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GraphQLError, buildSchema, parse, validate, type GraphQLFieldResolver, type OperationDefinitionNode } from 'graphql';
import mercurius from 'mercurius';
import { GyreError, ValidationError } from '../../domain/errors.ts';
import type { AccessChanges } from '../auth/access-changes.ts';
import { authenticate, presentedToken, type Auth } from '../auth/authenticate.ts';
import { ownOrigin, requestOrigin, signedInByCookie } from '../auth/origin.ts';
import { authorize, graphqlRules } from '../auth/authorization.ts';
import { isRefusal, requestError } from '../errors.ts';
import { commandContext, requestInfo } from '../request-context.ts';
import type { Services } from '../services.ts';
import type { GraphQLContext } from './context.ts';
import { createSubscriptionGate, type SubscriptionGate } from './subscription-limits.ts';
import { LimitsExceeded, checkLimits, graphqlLimits, limitExceeded, limitRules, parseWithinLimits, tokenLimitError, type GraphQLLimits } from './limits.ts';
import { createResolvers } from './resolvers.ts';

/** schema.graphql at the root; the build copies it beside the compiled code in dist/. */
export const schemaPath = join(import.meta.dirname, '..', '..', 'schema.graphql');
export const schemaSource = () => readFileSync(schemaPath, 'utf8');
export const rootTypes = ['Query', 'Mutation', 'Subscription'] as const;

/** Every root field of the schema, as `Type.field`. */
export const rootFields = (source = schemaSource()): string[] => {
  const schema = buildSchema(source);
  return rootTypes.flatMap((t) => Object.keys(schema.getType(t) ? (schema.getType(t) as { getFields(): object }).getFields() : {}).map((f) => `${t}.${f}`));
};

type Resolver = GraphQLFieldResolver<unknown, GraphQLContext>;

/** Every name the schema declares: types, fields, arguments, enum values. */
const schemaNames = (source = schemaSource()): Set<string> => {
  const names = new Set<string>();
  for (const type of Object.values(buildSchema(source).getTypeMap())) {
    names.add(type.name);
    const t = type as { getFields?: () => Record<string, { args?: ReadonlyArray<{ name: string }> }>; getValues?: () => ReadonlyArray<{ name: string }> };
    for (const [field, def] of Object.entries(t.getFields?.() ?? {})) {
      names.add(field);
      for (const a of def.args ?? []) names.add(a.name);
    }
    for (const v of t.getValues?.() ?? []) names.add(v.name);
  }
  return names;
};

/**
 * GraphQL's validation messages repeat the values a caller sent, and a value may be a secret: every
 * quoted span that is not a name of the schema or a variable is blanked, and so is an unquoted value
 * (a number, a boolean, a list) after "value" or "found", before the message leaves.
 */
export const scrubValues =
  (names: ReadonlySet<string>) =>
  (message: string): string =>
    message
      .replace(/"((?:[^"\\]|\\.)*)"/g, (quoted, inner: string) =>
        names.has(inner.replace(/[![\]]/g, '')) || /^\$[_A-Za-z][_0-9A-Za-z]*$/.test(inner) ? quoted : '"…"',
      )
      .replace(/\b(value:? |found )(?!of\b|"…")[^;]*?(?=\.?(?:;|$))/g, '$1…');

/**
 * The one place GraphQL is authorized: every root resolver is wrapped with its rule, and every refusal
 * (no token, not admin, bad input, a domain rule) is recorded as an audit event with success false.
 */
const guard = (s: Services, key: string, resolve: Resolver): Resolver => {
  const rule = graphqlRules[key];
  if (!rule) throw new Error(`no authorization rule for ${key}: add one to api/auth/authorization.ts`);
  const [type, field] = key.split('.') as [string, string];
  const operation = `${type.toLowerCase()} ${field}`;
  return async (root, args, ctx, info) => {
    try {
      authorize(rule, ctx.auth);
      return await resolve(root, args, ctx, info);
    } catch (e) {
      if (isRefusal(e) && rule.role !== 'anonymous') {
        await s.commands.refuse(
          rule.action,
          { reason: e.message, code: e.code, status: e.status, operation },
          { context: commandContext(ctx.auth, ctx.requestInfo) },
        );
      }
      throw e;
    }
  };
};

/**
 * Passes a subscription's events on, checking the caller again before the first one after what
 * decides access changed (an account, token or session event) or after their session's end.
 */
const revalidating = (
  source: AsyncIterator<unknown>,
  check: () => Promise<Auth>,
  access: AccessChanges,
  endsAt: number | null,
  now: () => number,
): AsyncIterableIterator<unknown> => {
  let seen = access.stamp();
  let ends = endsAt;
  return {
    async next() {
      const r = await source.next();
      if (!r.done && (access.stamp() !== seen || (ends !== null && now() >= ends))) {
        seen = access.stamp();
        try {
          await access.settled();
          const auth = await check();
          ends = auth.kind === 'user' ? auth.endsAt : null;
        } catch (e) {
          await source.return?.();
          throw e;
        }
      }
      return r;
    },
    return: async () => (await source.return?.()) ?? { done: true, value: undefined },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
};

const guardedResolvers = (s: Services, gate: SubscriptionGate) => {
  const resolvers = createResolvers(s) as unknown as Record<string, Record<string, Resolver | { subscribe: Resolver; resolve?: Resolver }>>;
  for (const key of rootFields()) {
    const [type, field] = key.split('.') as [string, string];
    const r = resolvers[type]?.[field];
    if (!r) throw new Error(`schema.graphql declares ${key} but no resolver serves it`);
    if (typeof r === 'function') {
      resolvers[type]![field] = guard(s, key, r);
      continue;
    }
    const rule = graphqlRules[key]!;
    const subscribe: Resolver = async (root, args, ctx, info) => {
      const subscribed = (await r.subscribe(root, args, ctx, info)) as AsyncIterator<unknown>;
      const connection = ctx.connection;
      const events = connection ? gate.held(subscribed, connection, ctx.auth.kind === 'user' ? ctx.auth.user.id : null) : subscribed;
      const again = ctx.reauthenticate;
      const endsAt = ctx.auth.kind === 'user' ? ctx.auth.endsAt : null;
      const check = async () => {
        const auth = await again!();
        authorize(rule, auth);
        return auth;
      };
      return again ? revalidating(events, check, s.access, endsAt, s.sessions.now) : events;
    };
    resolvers[type]![field] = { subscribe: guard(s, key, subscribe), resolve: guard(s, key, r.resolve ?? ((root) => root)) };
  }
  return resolvers;
};

/** The root fields a document asks for, so that a document GraphQL refuses is audited under the right action. */
export const requestedRules = (query: unknown, maxTokens?: number): Array<{ key: string; action: string }> => {
  if (typeof query !== 'string') return [];
  try {
    return parse(query, { maxTokens })
      .definitions.filter((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition')
      .flatMap((op) => {
        const type = op.operation === 'query' ? 'Query' : op.operation === 'mutation' ? 'Mutation' : 'Subscription';
        return op.selectionSet.selections.flatMap((sel) => {
          const key = sel.kind === 'Field' ? `${type}.${sel.name.value}` : '';
          const rule = graphqlRules[key];
          return rule && rule.role !== 'anonymous' ? [{ key, action: rule.action }] : [];
        });
      });
  } catch {
    return [{ key: 'document', action: 'graphql.document.reject' }];
  }
};

/**
 * Who a WebSocket is signed in as by its upgrade request: a browser sends the session cookie with an
 * upgrade any site's page asks for, so the cookie counts only when the page is one of Gyre's own.
 */
const upgradeAuth = (s: Pick<Services, 'config' | 'db' | 'sessions'>, req: FastifyRequest): Pick<GraphQLContext, 'auth' | 'reauthenticate'> => {
  const publicUrl = s.config.GYRE_PUBLIC_URL;
  if (!signedInByCookie(req.auth) || requestOrigin(req.headers) === ownOrigin(publicUrl, req))
    return { auth: req.auth, reauthenticate: () => authenticate(s.db, s.sessions, req.headers, req.cookies) };
  const refused: Auth = { kind: 'invalid', reason: `the session cookie counts only on a WebSocket opened by a page of ${ownOrigin(publicUrl, req)}` };
  return { auth: refused, reauthenticate: async () => refused };
};

/** The errors of a document GraphQL refused, or a limit did, in Gyre's words; null for any other error. */
const refusedDocument = (original: Error & { errors?: GraphQLError[] }, limits: GraphQLLimits): GraphQLError[] | null => {
  if (!Array.isArray(original.errors)) return null;
  return original.errors.map((e) => tokenLimitError(e, limits) ?? e);
};

export const registerGraphQL = async (app: FastifyInstance, s: Services) => {
  const scrub = scrubValues(schemaNames());
  const limits = graphqlLimits(s.config);
  const gate = createSubscriptionGate({
    perConnection: s.config.GYRE_SUBSCRIPTIONS_PER_CONNECTION,
    perUser: s.config.GYRE_SUBSCRIPTIONS_PER_USER,
    slowConsumerMs: s.config.GYRE_SUBSCRIPTION_SLOW_CONSUMER_MS,
  });
  const asGraphQLError = (e: unknown): GraphQLError => (e instanceof GraphQLError ? e : new GraphQLError((e as Error).message, { originalError: e as Error }));

  /** The answer to an error raised before execution: a request error, or a document GraphQL refused. */
  const format = (execution: { data?: Record<string, unknown> | null; errors?: ReadonlyArray<GraphQLError> }) => {
    let status = 200;
    const errors = (execution.errors ?? []).flatMap((error) => {
      const original = error.originalError as (Error & { errors?: GraphQLError[] }) | undefined;
      const refused = original ? refusedDocument(original, limits) : null;
      if (refused) {
        status = 400;
        return refused.map(
          (e) => new GraphQLError(scrub(e.message), { nodes: e.nodes, extensions: { code: (e.extensions?.code as string) ?? 'GRAPHQL_VALIDATION_FAILED' } }),
        );
      }
      const requested = requestError(original);
      if (requested instanceof GyreError) {
        // 503 and 507 (the database does not answer, or is full): the server cannot answer now, as a proxy or client retrying needs to know
        // a request fastify refused (not JSON, too large, of another type) keeps its status too
        if (requested !== original || [401, 403, 503, 507].includes(requested.status)) status = requested.status;
        // bad input that left nothing to answer (a page size out of range, an impossible date) is the caller's 400, not an empty 200
        else if (requested.status === 400 && !execution.data && status === 200) status = 400;
        return [new GraphQLError(requested.message, { nodes: error.nodes, path: error.path, extensions: { code: requested.code } })];
      }
      if (original && !(original instanceof GraphQLError)) {
        s.log.error({ err: original }, 'GraphQL resolver failed');
        return [new GraphQLError('internal error: see the server log', { nodes: error.nodes, path: error.path, extensions: { code: 'INTERNAL' } })];
      }
      return [error];
    });
    return { statusCode: status, response: { data: execution.data ?? null, errors: errors.map((e) => e.toJSON()) } };
  };

  // mercurius parses a subscription's document with no token limit before any hook sees it: a message is bounded in bytes first, and mercurius takes this server
  await app.register(fastifyWebsocket, { options: { maxPayload: s.config.GYRE_SUBSCRIPTION_MAX_MESSAGE_BYTES } });
  await app.register(mercurius, {
    schema: schemaSource(),
    resolvers: guardedResolvers(s, gate) as never,
    path: '/graphql',
    graphiql: false,
    graphql: { parseOptions: { maxTokens: limits.maxTokens } },
    context: (req: FastifyRequest): GraphQLContext => ({ auth: req.auth, requestInfo: requestInfo(req) }),
    subscription: {
      // a token in connection_init ({authorization: "Bearer …"} or {"Circle-Token": "…"}) stands for the connection; without one, the upgrade request's session cookie does
      onConnect: async ({ payload }: { payload?: Record<string, unknown> }) => {
        const headers = Object.fromEntries(
          Object.entries((payload?.headers as object) ?? payload ?? {}).map(([k, v]) => [k.toLowerCase(), typeof v === 'string' ? v : undefined]),
        );
        if (presentedToken(headers) === null) return true;
        return { auth: await authenticate(s.db, s.sessions, headers), reauthenticate: () => authenticate(s.db, s.sessions, headers) };
      },
      // runs before onConnect, on the upgrade request, which the onRequest hook has authenticated
      context: (socket: { terminate(): void }, req: FastifyRequest): GraphQLContext => ({
        requestInfo: requestInfo(req),
        ...upgradeAuth(s, req),
        connection: {
          open: 0,
          turn: Promise.resolve(),
          drop: (reason) => {
            s.log.warn({ reqId: req.id, reason }, 'a subscriber too slow to keep up was disconnected');
            socket.terminate();
          },
        },
      }),
    },
    // a document GraphQL refused is recorded here, where the answer can wait for the record
    errorHandler: async (error: Error, req: FastifyRequest, reply: FastifyReply) => {
      const { statusCode, response } = format({ errors: [asGraphQLError(error)] });
      const original = error as Error & { errors?: GraphQLError[] };
      if (Array.isArray(original.errors)) {
        const [asked] = requestedRules((req.body as { query?: unknown } | undefined)?.query ?? (req.query as { query?: unknown }).query, limits.maxTokens);
        const { key, action } = asked ?? { key: 'document', action: 'graphql.document.reject' };
        const reason = response.errors.map((e) => e.message).join('; ');
        await s.commands.refuse(
          action,
          { reason, code: String(response.errors[0]?.extensions?.code ?? 'GRAPHQL_VALIDATION_FAILED'), status: statusCode, operation: key },
          {
            context: commandContext(req.auth, requestInfo(req)),
          },
        );
      }
      return reply.code(statusCode).send(response);
    },
    errorFormatter: (execution) => format(execution),
  });
  // the limits are checked before graphql's own rules, some of which take the square of a document's size
  const variablesOf = (context: { reply?: FastifyReply }): Record<string, unknown> => {
    const req = context.reply?.request;
    const sent = (req?.body as { variables?: unknown } | undefined)?.variables;
    return sent && typeof sent === 'object' ? (sent as Record<string, unknown>) : {};
  };
  app.graphql.addHook('preValidation', async (schema, document, context) => checkLimits(schema, document, limitRules(limits, variablesOf(context))));
  /** A subscription's refusal, audited once, under the action of the field it asked for. */
  const refuseSubscription = async (ctx: GraphQLContext, source: string | null, e: GyreError | LimitsExceeded) => {
    const [asked] = source === null ? [] : requestedRules(source, limits.maxTokens);
    const { key, action } = asked ?? { key: 'document', action: 'graphql.document.reject' };
    const { message: reason, code, status } = e instanceof GyreError ? e : { message: e.message, code: limitExceeded, status: 400 };
    await s.commands.refuse(action, { reason, code, status, operation: key }, { context: commandContext(ctx.auth, ctx.requestInfo) });
    return e;
  };
  /** The subscriptions of each connection whose document text passed the limits, by id. */
  const checked = new WeakMap<object, Set<string>>();
  app.graphql.addHook('preSubscriptionParsing', async (schema, source, context, id) => {
    const ctx = context as unknown as GraphQLContext;
    if (ctx.connection) await gate.turn(ctx.connection);
    try {
      if (ctx.connection) gate.refuseIfFull(ctx.connection);
      checkLimits(schema, parseWithinLimits(source, limits), limitRules(limits));
    } catch (e) {
      if (!(e instanceof GyreError || e instanceof LimitsExceeded)) throw e;
      throw await refuseSubscription(ctx, source, e);
    }
    const mine = checked.get(context) ?? new Set<string>();
    checked.set(context, mine);
    mine.add(String(id));
  });
  // mercurius runs the hook above only for a document sent as text, and validates no subscription: one sent as an
  // already parsed document would skip every limit, and graphql's own rules run here, on a document within them
  app.graphql.addHook('preSubscriptionExecution', async (schema, document, context, id) => {
    const ctx = context as unknown as GraphQLContext;
    if (!checked.get(context)?.delete(String(id)))
      throw await refuseSubscription(ctx, null, new ValidationError("send a subscription's document as text (the query string), as graphql-ws does"));
    const invalid = validate(schema, document);
    if (invalid.length) throw await refuseSubscription(ctx, null, new ValidationError(invalid.map((e) => e.message).join('; ')));
  });
};
