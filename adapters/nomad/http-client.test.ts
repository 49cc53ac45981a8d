import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { until } from '../../test/support/jobs.ts';
import { type NomadStandIn, type StandInNode, startNomadStandIn } from '../../test/support/nomad-standin.ts';
import { freePort } from '../../test/support/ports.ts';
import { rejects } from '../../test/support/rejects.ts';
import { nomadJobOf } from './job-spec.ts';
import { createNomadClient, type NomadSettings } from './http-client.ts';
import { NomadError, type NomadJob } from './port.ts';

const test = suite('adapters/nomad/http-client');
const node: StandInNode = { id: 'node-1', name: 'one', nodeClass: 'build', cpuMhz: 4000, cores: 2, memoryMb: 2048 };
const canary = 'canary-5f1e-secret-token';

/** A job of one task that runs a moment and exits: Gyre's own job spec, with a command that ignores the agent's arguments. */
const tiny = (id: string): NomadJob =>
  nomadJobOf(
    { nomadJobId: id, name: id, taskIndex: 0, resourceClass: 'docker:small', cpus: 1, memoryMb: 128, token: 'unused' },
    {
      datacenters: ['dc1'],
      cpu: { mhzPerCpu: 500 },
      constraints: [],
      agentCommand: [process.execPath, '-e', 'setTimeout(()=>{},200)'],
      gyreUrl: 'http://127.0.0.1:1',
    },
  );

let nomad: NomadStandIn;
const clients: Array<{ close(): void }> = [];
const client = (settings: Partial<NomadSettings> = {}) => {
  const c = createNomadClient({ address: nomad.url, namespace: 'default', ...settings });
  clients.push(c);
  return c;
};
/** Resolves once the stand-in has received a request for `path` whose query has `query`: a blocking query has reached Nomad. */
const arrived = (path: string, query: string) =>
  until(`${path}?${query} to reach Nomad`, async () => nomad.requests().some((r) => r.path === path && r.query.includes(query)) || undefined, 5_000);
const isNomadError = (status: number) => (e: unknown) => e instanceof NomadError && e.status === status;

test.before.each(async () => {
  nomad = await startNomadStandIn({ nodes: [node] });
});
test.after.each(async () => {
  for (const c of clients.splice(0)) c.close();
  await nomad.stop();
});

test('leader answers with the leader address', async () => {
  assert.is(await client().leader(), '127.0.0.1:4647');
});

test('a registered job is followed with blocking queries from placement to completion; its evaluations are listed', async () => {
  const nomadClient = client();
  const before = await nomadClient.allocations('tiny');
  assert.equal(before.value, []);
  let answered = false;
  const waiting = nomadClient.allocations('tiny', { index: before.index, waitMs: 20_000 }).finally(() => (answered = true));
  await arrived('/v1/job/tiny/allocations', `index=${before.index}`);
  assert.not.ok(answered, 'a blocking query at the current index waits');
  const { evalId } = await nomadClient.register(tiny('tiny'));
  const placed = await waiting;
  assert.ok(placed.index > before.index, `${placed.index} > ${before.index}`);
  assert.is(placed.value.length, 1, 'it answered with the change: the allocation the registration made');

  let last = placed;
  const deadline = Date.now() + 15_000;
  while (last.value[0]?.ClientStatus !== 'complete') {
    assert.ok(Date.now() < deadline, `never complete: ${JSON.stringify(last.value)}`);
    const next = await nomadClient.allocations('tiny', { index: last.index, waitMs: 5_000 });
    assert.ok(next.index >= last.index);
    last = next;
  }
  assert.ok(last.index > placed.index);
  assert.equal([last.value[0]!.NodeID, last.value[0]!.TaskStates?.agent?.State], ['node-1', 'dead']);

  const evaluations = await nomadClient.evaluations('tiny');
  assert.ok(evaluations.index > 0);
  assert.equal(
    evaluations.value.map((e) => [e.ID, e.Status]),
    [[evalId, 'complete']],
  );
  assert.equal((await nomadClient.evaluations('unknown')).value, []);
});

test('nodes are listed with their resources, and a blocking query on them answers a change', async () => {
  const nomadClient = client();
  const first = await nomadClient.nodes();
  assert.equal(
    first.value.map((n) => [n.ID, n.Name, n.NodeClass, n.SchedulingEligibility, n.NodeResources?.Cpu?.CpuShares, n.NodeResources?.Memory?.MemoryMB]),
    [['node-1', 'one', 'build', 'eligible', 4000, 2048]],
  );
  const waiting = nomadClient.nodes({ index: first.index, waitMs: 20_000 });
  await arrived('/v1/nodes', `index=${first.index}`);
  nomad.setEligibility('node-1', false);
  const changed = await waiting;
  assert.ok(changed.index > first.index);
  assert.is(changed.value[0]!.SchedulingEligibility, 'ineligible');
});

test('stopAndPurge purges a known job, and a job Nomad does not know is already gone', async () => {
  const nomadClient = client();
  await nomadClient.register(tiny('purged'));
  assert.equal(
    nomad.jobs().map((j) => j.id),
    ['purged'],
  );
  await nomadClient.stopAndPurge('purged');
  assert.equal(nomad.jobs(), []);
  assert.ok(nomad.requests().some((r) => r.method === 'DELETE' && r.path === '/v1/job/purged' && r.query.includes('purge=true')));
  await nomadClient.stopAndPurge('never registered');
  assert.ok(nomad.requests().some((r) => r.method === 'DELETE' && r.path === '/v1/job/never%20registered'));
});

test('the namespace, region and token reach Nomad; a wrong token is 403 and no error carries a token', async () => {
  await nomad.stop();
  nomad = await startNomadStandIn({ nodes: [node], tokens: { 'the-right-secret': { namespaces: { ci: { policy: 'write' } }, node: 'read' } } });
  const right = client({ token: 'the-right-secret', namespace: 'ci', region: 'global' });
  await right.register(tiny('in-ci'));
  assert.equal(
    nomad.jobs().map((j) => [j.namespace, j.id]),
    [['ci', 'in-ci']],
  );
  assert.equal(
    (await right.allocations('in-ci')).value.map((a) => a.NodeID),
    ['node-1'],
  );
  const elsewhere = (await rejects(() => client({ token: 'the-right-secret', namespace: 'ci', region: 'mars' }).nodes(), isNomadError(500))) as NomadError;
  assert.is(elsewhere.message, 'No path to region');

  const wrong = (await rejects(() => client({ token: canary, namespace: 'ci' }).register(tiny('denied')), isNomadError(403))) as NomadError;
  assert.is(wrong.message, 'ACL token not found');
  assert.not.ok(`${wrong.message} ${wrong.stack}`.includes(canary));

  // a server that echoes the token in its error: the message is scrubbed all the same
  const echo = createServer((req, res) => res.writeHead(400, { 'content-type': 'text/plain' }).end(`bad token ${req.headers['x-nomad-token']}\n`));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  try {
    const address = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
    const echoed = (await rejects(() => client({ address, token: canary }).leader(), isNomadError(400))) as NomadError;
    assert.is(echoed.message, 'bad token [token]');
  } finally {
    echo.closeAllConnections();
    await new Promise((r) => echo.close(r));
  }
});

test('an address where nothing listens, or a Nomad that does not answer in time, is status 0 naming the address', async () => {
  const address = `http://127.0.0.1:${await freePort()}`;
  const refused = (await rejects(() => client({ address, token: canary }).leader(), isNomadError(0))) as NomadError;
  assert.match(refused.message, `Nomad at ${address} cannot be reached: `);
  assert.match(refused.message, 'ECONNREFUSED');
  assert.not.ok(refused.message.includes(canary));

  nomad.slow(2_000);
  const slow = (await rejects(() => client({ requestTimeoutMs: 100 }).leader(), isNomadError(0))) as NomadError;
  assert.is(slow.message, `Nomad at ${nomad.url} cannot be reached: no answer within 100 ms`);
});

test('an aborted blocking query ends at once with the abort, and the client goes on working', async () => {
  const nomadClient = client();
  const { index } = await nomadClient.nodes();
  const controller = new AbortController();
  const waiting = nomadClient.nodes({ index, waitMs: 60_000, signal: controller.signal });
  await arrived('/v1/nodes', `index=${index}`);
  const started = Date.now();
  controller.abort();
  const e = await rejects(
    () => waiting,
    (x) => !(x instanceof NomadError) && (x as Error).name === 'AbortError',
  );
  assert.ok(Date.now() - started < 1_000, `ended ${Date.now() - started} ms after the abort`);
  assert.ok(e);
  await rejects(
    () => nomadClient.leader(AbortSignal.abort()),
    (x) => (x as Error).name === 'AbortError',
    'an aborted signal ends a call before it starts',
  );
  assert.is(await nomadClient.leader(), '127.0.0.1:4647');
});

test.run();
