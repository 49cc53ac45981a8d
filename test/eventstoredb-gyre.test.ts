import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { createGyre, type Gyre } from '../api/app.ts';
import { ConfigError, loadConfig } from '../api/config.ts';
import { resetDatabase, testDatabase } from './support/database.ts';
import { type EventStoreDbStandIn, startEventStoreDbStandIn } from './support/eventstoredb-standin.ts';
import { gqlData as gql } from './support/gyre.ts';

/**
 * A whole Gyre with its events in EventStoreDB (the stand-in gRPC server) and its read models in the
 * SQL database: commands answered with read-your-writes, queries, the audit log and a live
 * subscription; then an empty read database and a fresh data directory against the same log build
 * every read model again from it.
 */
const test = suite('Gyre on EventStoreDB (stand-in)');
const root = resolve(import.meta.dirname, '..');
let standIn: EventStoreDbStandIn;
const dataDirs: string[] = [];

test.before(async () => {
  standIn = await startEventStoreDbStandIn();
});
test.after(async () => {
  await standIn.stop();
  for (const d of dataDirs) rmSync(d, { recursive: true, force: true });
});

const startGyre = async (): Promise<Gyre> => {
  const dataDir = mkdtempSync(join(tmpdir(), 'gyre-esdb-'));
  dataDirs.push(dataDir);
  return createGyre(loadConfig({ GYRE_DATA_DIR: dataDir, GYRE_LOG_LEVEL: 'silent', GYRE_LOCAL_AGENT: 'false', GYRE_EVENTSTORE_URL: standIn.url }), {
    db: testDatabase(),
    logger: false,
  });
};

const settingsAudit = '{ auditLog(first: 50, filter: {actions: ["system.*"]}) { edges { node { action payload } } } }';
const seatsAudited = (data: Record<string, any>) =>
  (data.auditLog.edges as Array<{ node: { payload: { changes?: { licenseSeats?: { to: number } } } } }>).map((e) => e.node.payload.changes?.licenseSeats?.to);

let adminToken = '';

test('commands, queries, the audit log and a subscription, with the events in EventStoreDB', async () => {
  await resetDatabase();
  const g = await startGyre();
  const ws: Array<() => Promise<void>> = [];
  try {
    const admin = await g.bootstrap();
    assert.ok(admin, 'an empty log bootstraps an admin');
    adminToken = admin.token;
    assert.not.ok(await testDatabase().schema.hasTable('events'), 'no event is kept in the SQL database');
    assert.ok(standIn.openReads() > 0, 'projections follow the log on EventStoreDB');

    const set = (seats: number) => gql(g, adminToken, 'mutation($s: Int) { updateSystemSettings(input: {licenseSeats: $s}) { licenseSeats } }', { s: seats });
    assert.is((await set(77)).updateSystemSettings.licenseSeats, 77);
    // read-your-writes: the next query and the audit log already hold it
    assert.is((await gql(g, adminToken, '{ systemSettings { licenseSeats } }')).systemSettings.licenseSeats, 77);
    const audited = await gql(g, adminToken, settingsAudit);
    assert.ok(seatsAudited(audited).includes(77), JSON.stringify(audited));
    const csv = await g.app.inject({ method: 'GET', url: '/admin/audit-log.csv', headers: { authorization: `Bearer ${adminToken}` } });
    assert.is(csv.statusCode, 200);
    assert.match(csv.body, 'system.settings');

    const address = await g.app.listen({ port: 0, host: '127.0.0.1' });
    const client = createClient({
      url: `${address.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${adminToken}` },
      retryAttempts: 0,
    });
    ws.push(() => client.dispose() as Promise<void>);
    const received: string[] = [];
    client.subscribe(
      { query: 'subscription { events(filter: {actions: ["system.*"]}) { action payload } }' },
      { next: (m) => void received.push(JSON.stringify(m.data ?? m.errors)), error: (e) => void received.push(`error ${String(e)}`), complete: () => {} },
    );
    // the subscription follows from the log's end once it is set up: change the settings until it tells of a change
    const deadline = Date.now() + 20_000;
    for (let seats = 100; !received.some((r) => r.includes('"licenseSeats":')) && Date.now() < deadline; seats++) {
      await set(seats);
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.ok(
      received.some((r) => r.includes('"licenseSeats":')),
      `a subscriber is told of the change: ${received.join(', ')}`,
    );
    assert.not.ok(
      received.some((r) => r.startsWith('error')),
      received.join(', '),
    );
    await set(77);
  } finally {
    for (const close of ws) await close();
    await g.close();
  }
});

test('an empty read database and a fresh data directory build every read model again from the log', async () => {
  assert.ok(adminToken, 'the test before it ran');
  await resetDatabase();
  const g = await startGyre();
  try {
    assert.is(await g.bootstrap(), null, 'the admin in the log is known again: no second admin');
    assert.is((await gql(g, adminToken, '{ systemSettings { licenseSeats } }')).systemSettings.licenseSeats, 77, "the admin's token and the settings");
    const seats = seatsAudited(await gql(g, adminToken, settingsAudit));
    assert.ok(seats.length > 2 && seats[0] === 77, `the audit log again: ${seats.join(', ')}`);
    const users = await gql(g, adminToken, '{ auditLog(first: 5, filter: {actions: ["user.*"]}) { edges { node { action } } } }');
    assert.ok(users.auditLog.edges.length > 0);
  } finally {
    await g.close();
  }
});

test('a server that cannot be reached stops start-up naming GYRE_EVENTSTORE_URL', async () => {
  const down = await startEventStoreDbStandIn();
  const url = down.url;
  await down.stop();
  await resetDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), 'gyre-esdb-'));
  dataDirs.push(dataDir);
  try {
    await createGyre(loadConfig({ GYRE_DATA_DIR: dataDir, GYRE_LOG_LEVEL: 'silent', GYRE_LOCAL_AGENT: 'false', GYRE_EVENTSTORE_URL: url }), {
      db: testDatabase(),
      logger: false,
    });
    assert.unreachable('started without its event store');
  } catch (e) {
    assert.instance(e, ConfigError);
    assert.match((e as Error).message, /GYRE_EVENTSTORE_URL: cannot reach EventStoreDB/);
  }

  // `gyre serve` says so and exits as for any wrong setting
  const child = spawn(process.execPath, [join(root, 'bin', 'gyre.mjs'), 'serve'], {
    cwd: root,
    env: { ...process.env, GYRE_DATABASE_URL: '', GYRE_DATA_DIR: dataDir, GYRE_LOG_LEVEL: 'warn', GYRE_EVENTSTORE_URL: url, GYRE_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  assert.is(code, 78, err);
  assert.match(err, /GYRE_EVENTSTORE_URL/);
});

test.run();
