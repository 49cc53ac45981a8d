import * as assert from 'uvu/assert';
import { auditLogProjection } from '../../projections/audit-log.ts';
import { START } from '../../adapters/eventstore/port.ts';
import type { Position, RecordedEvent } from '../../domain/events/envelope.ts';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGyre, type Gyre } from '../../api/app.ts';
import { generateToken, hashToken } from '../../application/tokens.ts';
import { createAccount } from '../../application/accounts.ts';
import { loadConfig } from '../../api/config.ts';
import { systemActor } from '../../domain/events/envelope.ts';
import { sessionStream, sessionsDecider } from '../../domain/users/sessions.ts';
import { resetDatabase, testDatabase, testDatabaseUrl } from './database.ts';
import type { EventStoreDbStandIn } from './eventstoredb-standin.ts';

export interface TestGyre extends Gyre {
  readonly adminToken: string;
  readonly dataDir: string;
  /**
   * Signs up a user through Gyre's own commands and gives it a token; with `orgs` or `teams`, also
   * records a login at which GitHub said so. `githubId`: the GitHub user the account is of (webhook
   * senders are matched by it).
   */
  createUser(login: string, options?: { isAdmin?: boolean; orgs?: string[]; teams?: string[]; githubId?: number }): Promise<{ id: string; token: string }>;
  gql(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<{ status: number; body: GraphQLBody }>;
  stop(): Promise<void>;
}

export interface GraphQLBody {
  data: Record<string, any> | null;
  errors?: Array<{ message: string; extensions?: { code?: string }; path?: string[] }>;
}

/**
 * With GYRE_TEST_EVENTSTORE=standin, Gyre keeps its events in one EventStoreDB stand-in per test process, emptied for each
 * Gyre as the database is; test/run.ts stops it at the end.
 */
let standIn: Promise<EventStoreDbStandIn> | undefined;
const eventStoreEnv = async (env: Record<string, string>): Promise<Record<string, string>> => {
  if (process.env.GYRE_TEST_EVENTSTORE !== 'standin' || 'GYRE_EVENTSTORE_URL' in env) return {};
  if (!standIn) {
    // the gRPC server loads only in this mode
    standIn = import('./eventstoredb-standin.ts').then((m) => m.startEventStoreDbStandIn());
    (globalThis as { closeGyreTestEventStore?: () => Promise<void> }).closeGyreTestEventStore = async () => (await standIn)?.stop();
  }
  const s = await standIn;
  s.reset();
  return { GYRE_EVENTSTORE_URL: s.url };
};

/** A GraphQL request to any Gyre with a bearer token: fails the test on errors, answers the data. */
export const gqlData = async (g: Gyre, token: string, query: string, variables: Record<string, unknown> = {}): Promise<Record<string, any>> => {
  const res = await g.app.inject({
    method: 'POST',
    url: '/graphql',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    payload: { query, variables },
  });
  const body = res.json() as GraphQLBody;
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data!;
};

/** A whole Gyre on the shared test database, emptied first, with its admin bootstrapped. */
export const startTestGyre = async (
  env: Record<string, string> = {},
  options: {
    logStream?: { write(line: string): void };
    now?: () => number;
    onRoute?: (route: { method: string | string[]; url: string }) => void;
    /** Gyre opens the database itself, as `gyre serve` does: PostgreSQL at the test database's address, else the embedded one in its data directory. */
    ownDatabase?: boolean;
  } = {},
): Promise<TestGyre> => {
  await resetDatabase();
  const eventStore = await eventStoreEnv(env);
  const dataDir = mkdtempSync(join(tmpdir(), 'gyre-test-'));
  // tests that assert each refusal's event send more than a minute's budget of them from one address: a test of the budget sets its own
  const budget = { GYRE_AUDIT_REFUSALS_PER_SOURCE: '100000', GYRE_AUDIT_REFUSALS_PER_MINUTE: '1000000' };
  const url = options.ownDatabase ? testDatabaseUrl() : undefined;
  const own = url ? { GYRE_DATABASE_URL: url } : {};
  const gyre = await createGyre(
    loadConfig({ GYRE_DATA_DIR: dataDir, GYRE_LOG_LEVEL: 'silent', GYRE_LOCAL_AGENT: 'false', ...budget, ...eventStore, ...own, ...env }),
    {
      ...(options.ownDatabase ? {} : { db: testDatabase() }),
      ...(options.logStream ? { logStream: options.logStream } : { logger: false }),
      ...(options.now ? { now: options.now } : {}),
      ...(options.onRoute ? { onRoute: options.onRoute } : {}),
    },
  );
  const admin = await gyre.bootstrap();
  if (!admin) throw new Error('bootstrap created no admin on an empty database');
  return testGyreOf(gyre, admin.token, dataDir);
};

/**
 * Stops a test Gyre and starts another on the same database, with a data directory of its own (the
 * same GYRE_MASTER_KEY in `env`, as the servers of a cluster share), listening on `port`: a restart,
 * or a second server taking over.
 */
export const restartTestGyre = async (
  g: TestGyre,
  env: Record<string, string>,
  options: { port: number; logStream?: { write(line: string): void } },
): Promise<TestGyre> => {
  await g.stop();
  const dataDir = mkdtempSync(join(tmpdir(), 'gyre-test-'));
  const gyre = await createGyre(loadConfig({ GYRE_DATA_DIR: dataDir, GYRE_LOG_LEVEL: 'silent', GYRE_LOCAL_AGENT: 'false', ...env }), {
    db: testDatabase(),
    ...(options.logStream ? { logStream: options.logStream } : { logger: false }),
  });
  await gyre.app.listen({ port: options.port, host: '127.0.0.1' });
  return testGyreOf(gyre, g.adminToken, dataDir);
};

const testGyreOf = (gyre: Gyre, adminToken: string, dataDir: string): TestGyre => {
  const admin = { token: adminToken };
  return {
    ...gyre,
    adminToken: admin.token,
    dataDir,
    async createUser(login, options = {}) {
      const id = randomUUID();
      const token = generateToken();
      const s = gyre.services;
      const context = { actor: systemActor, request: null };
      const target = { id, type: 'user', name: login };
      const r = await createAccount(s, context, {
        type: 'create',
        userId: id,
        login,
        name: login,
        state: 'ACTIVE',
        isAdmin: options.isAdmin ?? false,
        ...(options.githubId === undefined ? {} : { githubId: options.githubId }),
        token: { tokenId: randomUUID(), label: 'test', tokenHash: hashToken(token) },
      });
      await s.readYourWrites(r);
      if (options.orgs || options.teams) {
        const l = await s.commands.execute({
          stream: sessionStream(id),
          decider: sessionsDecider,
          command: {
            type: 'login',
            userId: id,
            login,
            sessionHash: hashToken(generateToken()),
            orgs: options.orgs ?? [],
            teams: options.teams ?? [],
            method: 'github',
          },
          context,
          target,
        });
        await s.readYourWrites(l);
      }
      return { id, token };
    },
    async gql(query, variables = {}, headers = { authorization: `Bearer ${admin.token}` }) {
      const res = await gyre.app.inject({
        method: 'POST',
        url: '/graphql',
        headers: { 'content-type': 'application/json', ...headers },
        payload: { query, variables },
      });
      return { status: res.statusCode, body: res.json() as GraphQLBody };
    },
    async stop() {
      await gyre.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
};

/** Waits until the audit read model holds `count` events matching `match`; refusals are recorded after the answer. */
export const waitForAudit = async (g: Gyre, match: (r: Record<string, any>) => boolean, count = 1, ms = 5000) => {
  const deadline = Date.now() + ms;
  for (;;) {
    await g.services.settled();
    const rows = (await g.services.db(auditLogProjection.tables.audit_events).select('record').orderBy('position')) as Array<{
      record: Record<string, any> | string;
    }>;
    const records = rows.map((r) => (typeof r.record === 'string' ? JSON.parse(r.record) : r.record));
    const found = records.filter(match);
    if (found.length >= count || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 25));
  }
};

/** The events in Gyre's log after `from` (from its start by default), read through its event store: the same on either store. */
export const loggedEvents = async (g: Gyre, from: Position = START): Promise<RecordedEvent[]> => {
  const events: RecordedEvent[] = [];
  for (let next = from; ; ) {
    const page = await g.services.store.readAll(next, { limit: 1000 });
    events.push(...page.events);
    if (page.atEnd) return events;
    next = page.next;
  }
};
