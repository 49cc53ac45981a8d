/**
 * A mutation and a query over HTTP as a user meets them, at 1 and 16 clients, beside their anchors in
 * the same run. Gyre: `gyre serve` in a child process on a fresh database, `createProject` on a new
 * project each time (a fresh stream), `project(slug)` for a query. Anchor: a bare fastify + mercurius
 * server in a child process, one INSERT per mutation, one SELECT per query, on the same kind of
 * database (anchor-server.ts). Also: a Node loop of single-row INSERT commits in this process.
 * Both servers run throughout, but only the one measured is awake: the other is frozen (SIGSTOP),
 * so Gyre's background work (after a figure it first catches up) takes nothing from its anchors. Each
 * figure is measured in BENCH_ROUNDS rounds (default 3) of BENCH_SECONDS each (default 3), Gyre and
 * its anchors in turn, so that a machine whose speed drifts slows both alike: throughput and latency
 * are over all rounds. BENCH_CLIENTS (default 1,16).
 */
import { randomUUID } from 'node:crypto';
import { closedLoop, graphqlClient, ratio } from './load.ts';
import { startAnchor, startGyre, type ServerProcess } from './server-process.ts';
import { backendArg, freshStorage, openStorage, printTable, report, spread } from './support.ts';

const backend = backendArg();
const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const clientCounts = (process.env.BENCH_CLIENTS ?? '1,16').split(',').map(Number);
const most = Math.max(...clientCounts);
const run = randomUUID().slice(0, 8);

/** A server's mutation and query: `mutate` makes something, `read` reads back something made. */
const operations = (
  server: ServerProcess,
  headers: Record<string, string>,
  mutation: (n: number) => [string, Record<string, unknown>],
  pick: (data: Record<string, any>) => unknown,
  query: (made: unknown) => [string, Record<string, unknown>],
) => {
  const client = graphqlClient(server.url, headers, most);
  const made: unknown[] = [];
  let n = 0;
  return {
    mutation: async () => made.push(pick(await client.data(...mutation(n++)))),
    query: () => client.data(...query(made[n++ % made.length])),
    close: () => client.close(),
  };
};

process.stderr.write(`starting gyre serve and the anchor server on ${backend}…\n`);
// on PostgreSQL the three share the bench_http database (their tables differ), each recreating it before anything starts
const [gyreStorage, anchorStorage, insertStorage] = [
  await freshStorage(backend, 'mutations'),
  await freshStorage(backend, 'anchor'),
  await freshStorage(backend, 'inserts'),
];
const [gyre, anchor] = await Promise.all([startGyre(gyreStorage), startAnchor(backend, anchorStorage)]);
const db = openStorage(insertStorage, 40);
await db.raw('create table bench_raw (id uuid primary key, body jsonb not null)');

const subjects = {
  gyre: operations(
    gyre,
    { authorization: `Bearer ${gyre.token}` },
    (n) => ['mutation($i: CreateProjectInput!) { createProject(input: $i) { id slug } }', { i: { slug: `gh/bench/p-${run}-${n}` } }],
    (d) => d.createProject.slug,
    (slug) => ['query($s: String!) { project(slug: $s) { id slug } }', { s: slug }],
  ),
  anchor: operations(
    anchor,
    {},
    (n) => ['mutation($n: String!) { createItem(name: $n) { id name } }', { n: `item-${n}` }],
    (d) => d.createItem.id,
    (id) => ['query($id: ID!) { item(id: $id) { id name } }', { id }],
  ),
};
const insert = () => db.raw('insert into bench_raw (id, body) values (?, ?)', [randomUUID(), JSON.stringify({ login: 'bench', state: 'ACTIVE' })]);

// warm-up: connections open, code paths compiled, something to query
for (const s of Object.values(subjects)) await closedLoop(most, 1, s.mutation);
await closedLoop(most, 1, insert);

/** What is measured: an operation, the server that serves it (if any), what to wait for before the next is measured. */
interface Contender {
  readonly op: () => Promise<unknown>;
  readonly server?: ServerProcess;
  readonly settle?: () => Promise<unknown>;
}
const servers = [gyre, anchor];
/**
 * Each contender in turn, `rounds` times, every other server frozen meanwhile: throughput over all
 * its rounds (requests / time), latency over all its requests, and the first contender's throughput
 * over each one's.
 */
const contest = async (contenders: Record<string, Contender>, clients: number) => {
  const got = Object.fromEntries(Object.keys(contenders).map((k) => [k, { ms: 0, latencies: [] as number[] }]));
  for (let r = 0; r < rounds; r++) {
    for (const [name, { op, server, settle }] of Object.entries(contenders)) {
      for (const s of servers) if (s !== server) s.pause();
      server?.resume();
      const g = got[name]!;
      const started = performance.now();
      await closedLoop(clients, seconds, async () => {
        const t = performance.now();
        await op();
        g.latencies.push(performance.now() - t);
      });
      g.ms += performance.now() - started;
      await settle?.();
    }
  }
  for (const s of servers) s.resume();
  const rate = (name: string) => (got[name]!.latencies.length / got[name]!.ms) * 1000;
  const first = Object.keys(contenders)[0]!;
  return Object.fromEntries(
    Object.keys(contenders).map((name) => [
      name,
      { perSecond: Math.round(rate(name) * 10) / 10, ...spread(got[name]!.latencies), firstOverThis: ratio(rate(first), rate(name)) },
    ]),
  );
};

const out: Record<string, unknown> = { bench: 'http-mutations', backend, seconds, rounds };
const rows: unknown[][] = [];
const cell = (f: { perSecond: number; p50: number; p99: number }) => `${f.perSecond}/s, p50 ${f.p50} p99 ${f.p99} ms`;
const plural = (c: number) => `${c} client${c > 1 ? 's' : ''}`;
for (const c of clientCounts) {
  process.stderr.write(`mutations, ${plural(c)}…\n`);
  const m = await contest(
    {
      gyre: { op: subjects.gyre.mutation, server: gyre, settle: gyre.caughtUp },
      anchor: { op: subjects.anchor.mutation, server: anchor },
      insert: { op: insert },
    },
    c,
  );
  out[`mutation_${c}`] = m;
  rows.push([`createProject, ${plural(c)}`, cell(m.gyre!), cell(m.anchor!), `**${m.anchor!.firstOverThis}**`]);
  rows.push([
    `createProject vs a Node loop of single-row INSERT commits, ${plural(c)}`,
    `${m.gyre!.perSecond}/s`,
    cell(m.insert!),
    `**${m.insert!.firstOverThis}**`,
  ]);
}
for (const c of clientCounts) {
  process.stderr.write(`queries, ${plural(c)}…\n`);
  const q = await contest({ gyre: { op: subjects.gyre.query, server: gyre, settle: gyre.caughtUp }, anchor: { op: subjects.anchor.query, server: anchor } }, c);
  out[`query_${c}`] = q;
  rows.push([`project(slug), ${plural(c)}`, cell(q.gyre!), cell(q.anchor!), `**${q.anchor!.firstOverThis}**`]);
}
for (const s of Object.values(subjects)) s.close();
await gyre.stop();
await anchor.stop();
await db.destroy();
printTable(`Over HTTP, ${backend}: ${rounds} rounds of ${seconds} s a figure, Gyre and its anchors in turn`, ['what', 'Gyre', 'anchor', 'Gyre / anchor'], rows);
report(out);
