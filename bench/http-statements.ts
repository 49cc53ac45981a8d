/**
 * What Gyre asks of its database: statements and commits per mutation over HTTP, and with no traffic
 * at all. Counted inside the server: Gyre is built here by createGyre, as `gyre serve` builds it (same
 * configuration, its own pool), on a fresh database, and listens on a real port; the knex instance it
 * is given reports every statement it sends ('query' events; BEGIN and COMMIT included), which is all
 * of them: every SQL of Gyre goes through that knex. A commit is a COMMIT or a statement outside a
 * transaction (autocommit); a writing commit is one whose transaction inserts, updates or deletes.
 * Each statement is put in one of three heaps: sent while serving an HTTP request (its async context,
 * from the server's request listener on); the event store's subscriptions looking at the log (the
 * polling of projections, reactors and live subscriptions); everything else (projections applying,
 * reactors, workers).
 * Idle: once start-up has settled (two 1-second windows within 10% of each other),
 * BENCH_IDLE_SECONDS (default 5), per second. Per request: BENCH_MUTATIONS (default 50)
 * `createProject` over HTTP from one client, then from 16, then as many `project(slug)` queries; the
 * window runs until every read model and reactor has handled them (services.settled()). The request's
 * heap is exact; the other two are less their idle rate over the same time (estimates: idle workers
 * such as the local agent's heartbeat tick on their own clock, and polling speeds up when appends
 * wake it and slows down when the database is busy).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { createGyre } from '../api/app.ts';
import { loadConfig } from '../api/config.ts';
import { graphqlClient } from './load.ts';
import { backendArg, freshStorage, openStorage, printTable, report } from './support.ts';

const backend = backendArg();
const mutations = Number(process.env.BENCH_MUTATIONS ?? 50);
const idleSeconds = Number(process.env.BENCH_IDLE_SECONDS ?? 5);
const storage = await freshStorage(backend, 'statements');
const db = openStorage(storage);
/** Marks what an HTTP request does, awaits included, from its first byte to its answer. */
const inRequest = new AsyncLocalStorage<true>();
type Sent = { sql: string; tx: string | undefined; request: boolean };
const sent: Sent[] = [];
db.on('query', (q: { sql: string; __knexTxId?: string }) => sent.push({ sql: q.sql, tx: q.__knexTxId, request: inRequest.getStore() === true }));

const gyre = await createGyre(
  loadConfig({ ...process.env, GYRE_DATA_DIR: storage.dataDir, GYRE_DATABASE_URL: storage.databaseUrl ?? '', GYRE_LOG_LEVEL: 'warn' }),
  { db, logger: false },
);
// each request runs inside inRequest: the server's own listener (fastify's) is called within it
const [handle] = gyre.app.server.listeners('request') as Array<(...args: unknown[]) => void>;
gyre.app.server.removeAllListeners('request');
gyre.app.server.on('request', (req, res) => inRequest.run(true, () => handle!(req, res)));
const url = await gyre.app.listen({ port: 0, host: '127.0.0.1' });
const admin = await gyre.bootstrap();
if (!admin) throw new Error('bootstrap created no admin on an empty database');
await gyre.services.settled();

const writes = /^\s*(insert|update|delete)\b|^\s*with\b[\s\S]*\b(insert\s+into|update\s+\S+\s+set|delete\s+from)\b/i;
/** A statement's shape: literals and parameters blanked, whitespace folded, cut short. */
const shape = (sql: string) =>
  sql
    .replace(/\s+/g, ' ')
    .replace(/'[^']*'/g, "'…'")
    .replace(/\$\d+|\?|\b\d+\b/g, '?')
    .trim()
    .slice(0, 90);

/** The event store's subscriptions looking at the log: the horizon, a page past a position, whether anything is held back behind it. */
const logPoll = /pg_snapshot_xmin\(pg_current_snapshot\(\)\)|from events where \(transaction_id, global_position\) >|^\s*with scanned as/;
/** Statements, commits and writing commits among what was sent, and the statements by shape. */
const tally = (window: ReadonlyArray<Sent>) => {
  let statements = 0;
  let commits = 0;
  let writingCommits = 0;
  const wrote = new Set<string>();
  const shapes = new Map<string, number>();
  for (const { sql, tx } of window) {
    const s = sql.trim();
    if (/^(begin|rollback)\b/i.test(s)) continue;
    if (/^commit\b/i.test(s)) {
      commits++;
      if (tx && wrote.has(tx)) writingCommits++;
      continue;
    }
    statements++;
    shapes.set(shape(s), (shapes.get(shape(s)) ?? 0) + 1);
    const writing = writes.test(s);
    if (tx) {
      if (writing) wrote.add(tx);
    } else {
      commits++;
      if (writing) writingCommits++;
    }
  }
  return { statements, commits, writingCommits, shapes };
};

/** Runs `fn`, answering what was sent meanwhile, split three ways, and how long it took. */
const counted = async (fn: () => Promise<unknown>) => {
  const from = sent.length;
  const started = performance.now();
  await fn();
  const window = sent.slice(from);
  return {
    all: tally(window),
    /** Sent while serving a request, on its behalf. */
    request: tally(window.filter((q) => q.request)),
    /** Sent by projections, reactors and workers, other than looking at the log. */
    work: tally(window.filter((q) => !q.request && !logPoll.test(q.sql))),
    /** Subscriptions looking at the log. */
    polls: tally(window.filter((q) => !q.request && logPoll.test(q.sql))),
    ms: performance.now() - started,
  };
};
const second = () => counted(() => new Promise((r) => setTimeout(r, 1000)));
const per = (n: number, d: number) => Math.round((n / d) * 10) / 10;
type Tally = ReturnType<typeof tally>;
const perSecond = (t: Tally, ms: number) => ({
  statements: per(t.statements * 1000, ms),
  commits: per(t.commits * 1000, ms),
  writingCommits: per(t.writingCommits * 1000, ms),
});

// start-up settles: two 1-second windows in a row within 10% of each other (at most 30 s)
let last = await second();
for (let i = 0; i < 30; i++) {
  const next = await second();
  const steady = Math.abs(next.all.statements - last.all.statements) <= 0.1 * Math.max(next.all.statements, last.all.statements, 1);
  last = next;
  if (steady) break;
}
process.stderr.write(`idle, ${idleSeconds} s…\n`);
const idle = await counted(() => new Promise((r) => setTimeout(r, idleSeconds * 1000)));

const client = graphqlClient(url, { authorization: `Bearer ${admin.token}` }, 16);
const run = randomUUID().slice(0, 8);
let n = 0;
const createProject = () =>
  client.data('mutation($i: CreateProjectInput!) { createProject(input: $i) { id slug } }', { i: { slug: `gh/bench/p-${run}-${n++}` } });
const readProject = () => client.data('query($s: String!) { project(slug: $s) { id slug } }', { s: `gh/bench/p-${run}-0` });
/**
 * `count` operations from `clients` loops, until everything they caused has been handled: per
 * operation, what its request sent and what projections and reactors sent after it (less what they
 * send idle over the same time); log polling per second meanwhile.
 */
const perOperation = async (count: number, clients: number, op: () => Promise<unknown>) => {
  let left = count;
  const c = await counted(async () => {
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (left-- > 0) await op();
      }),
    );
    if (!(await gyre.services.settled())) throw new Error('the read models did not settle');
  });
  const less = (t: Tally, idleT: Tally, k: keyof Tally & ('statements' | 'commits' | 'writingCommits')) => per(t[k] - (idleT[k] / idle.ms) * c.ms, count);
  const work = {
    statements: less(c.work, idle.work, 'statements'),
    commits: less(c.work, idle.work, 'commits'),
    writingCommits: less(c.work, idle.work, 'writingCommits'),
  };
  const request = {
    statements: per(c.request.statements, count),
    commits: per(c.request.commits, count),
    writingCommits: per(c.request.writingCommits, count),
  };
  const shapes = (t: Tally) => [...t.shapes].map(([s, k]) => [s, per(k, count)] as const).sort((a, b) => b[1] - a[1]);
  return {
    request,
    work,
    polls: perSecond(c.polls, c.ms),
    pollsBeyondIdle: less(c.polls, idle.polls, 'statements'),
    ms: Math.round(c.ms),
    requestShapes: shapes(c.request),
    workShapes: shapes(c.work),
  };
};
await createProject(); // the first project, and code paths warmed
await gyre.services.settled();

const idleWork = perSecond(idle.work, idle.ms);
const idlePolls = perSecond(idle.polls, idle.ms);
const idleAll = perSecond(idle.all, idle.ms);
const out: Record<string, unknown> = {
  bench: 'http-statements',
  backend,
  idle_s: idleSeconds,
  idle_per_s: idleAll,
  idle_polls_per_s: idlePolls,
  idle_work_per_s: idleWork,
};
const rows: unknown[][] = [];
const top: unknown[][] = [...idle.all.shapes]
  .sort((a, b) => b[1] - a[1])
  .slice(0, 6)
  .map(([s, k]) => ['idle, per s', per(k * 1000, idle.ms), `\`${s}\``]);
for (const [name, clients, op] of [
  ['createProject', 1, createProject],
  ['createProject', 16, createProject],
  ['project(slug)', 1, readProject],
] as const) {
  process.stderr.write(`${mutations} × ${name}, ${clients} client(s)…\n`);
  const f = await perOperation(mutations, clients, op);
  const label = `${name}, ${clients} client${clients > 1 ? 's' : ''}`;
  const total = per((f.request.statements + f.work.statements) * 10, 10);
  out[`${name.replace(/\W.*/, '')}_${clients}`] = {
    request: f.request,
    after: f.work,
    polls_beyond_idle: f.pollsBeyondIdle,
    polls_per_s_meanwhile: f.polls.statements,
    total_statements: total,
  };
  rows.push([
    label,
    `${f.request.statements} / ${f.request.commits} / ${f.request.writingCommits}`,
    `${f.work.statements} / ${f.work.commits} / ${f.work.writingCommits}`,
    total,
    `${f.pollsBeyondIdle} (${f.polls.statements}/s)`,
  ]);
  top.push(...f.requestShapes.slice(0, 6).map(([s, k]) => [`${label}: request`, k, `\`${s}\``]));
  top.push(...f.workShapes.slice(0, 4).map(([s, k]) => [`${label}: after`, k, `\`${s}\``]));
}
client.close();
await gyre.close();
await db.destroy();
printTable(
  `Statements Gyre sends, ${backend} (knex 'query' events in the server); statements / commits / writing commits`,
  [
    'what',
    'in the request',
    'after it: projections, reactors, workers (less idle)',
    'statements, request and after',
    'log polling beyond idle (per s meanwhile)',
  ],
  [
    [
      'idle (no traffic), per second',
      '–',
      `${idleWork.statements} / ${idleWork.commits} / ${idleWork.writingCommits}`,
      idleWork.statements,
      `(${idlePolls.statements}/s)`,
    ],
    ...rows,
  ],
);
printTable('The most frequent statements (per request unless said; idle not subtracted)', ['when', 'count', 'statement'], top);
report(out);
