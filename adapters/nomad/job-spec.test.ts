import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { nomadJobOf, type NomadJobSettings, type PlacedTask } from './job-spec.ts';
import { allocationEnd, placementFailure, waitingReason } from './reasons.ts';
import type { NomadAllocation, NomadEvaluation } from './port.ts';

const test = suite('adapters/nomad: the job Gyre registers, and what Nomad says back in words');
const task: PlacedTask = {
  nomadJobId: 'gyre-j1-0',
  name: 'build',
  taskIndex: 0,
  resourceClass: 'docker:medium+',
  cpus: 3,
  memoryMb: 6144,
  token: 'task-token',
};
const settings: NomadJobSettings = {
  datacenters: ['dc1', 'dc2'],
  cpu: 'cores',
  nodeClass: 'ci',
  constraints: [
    { pattern: 'docker:*', attribute: '${meta.tier}', operator: '=', value: 'build' },
    { pattern: 'machine:*', attribute: '${attr.kernel.name}', operator: '=', value: 'linux' },
  ],
  agentCommand: ['node', '/opt/gyre/bin/gyre.mjs'],
  gyreUrl: 'https://ci.example.com',
};

test('one batch group of one raw_exec task running the one-shot agent with its token, never restarted or rescheduled', () => {
  const job = nomadJobOf(task, settings);
  assert.equal([job.ID, job.Type, job.Datacenters], ['gyre-j1-0', 'batch', ['dc1', 'dc2']]);
  const group = job.TaskGroups[0]!;
  assert.equal([group.Count, group.RestartPolicy.Attempts, group.ReschedulePolicy.Attempts], [1, 0, 0]);
  const t = group.Tasks[0]!;
  assert.is(t.Driver, 'raw_exec');
  assert.equal(t.Config, {
    command: 'node',
    args: ['/opt/gyre/bin/gyre.mjs', 'agent', '--one-shot', '--name', 'nomad-${NOMAD_SHORT_ALLOC_ID}', '--work-dir', '${NOMAD_TASK_DIR}/work'],
  });
  assert.equal(t.Env, { GYRE_URL: 'https://ci.example.com', GYRE_TOKEN: 'task-token' });
  assert.equal(nomadJobOf(task, settings), job, 'the same task gives the same job');
});

test('size: whole cores, or MHz at the configured MHz per CPU; never both', () => {
  assert.equal(nomadJobOf(task, settings).TaskGroups[0]!.Tasks[0]!.Resources, { Cores: 3, MemoryMB: 6144 });
  const half = nomadJobOf({ ...task, cpus: 0.5 }, settings).TaskGroups[0]!.Tasks[0]!;
  assert.equal(half.Resources, { Cores: 1, MemoryMB: 6144 }, 'a fraction of a core is a whole core');
  const mhz = nomadJobOf(task, { ...settings, cpu: { mhzPerCpu: 2400 } }).TaskGroups[0]!.Tasks[0]!;
  assert.equal(mhz.Resources, { CPU: 7200, MemoryMB: 6144 });
  assert.is(mhz.Env.GYRE_AGENT_MHZ_PER_CPU, '2400', 'the agent reads its size back from NOMAD_CPU_LIMIT');
});

test("constraints: the node class, then those whose pattern matches the task's class", () => {
  assert.equal(nomadJobOf(task, settings).Constraints, [
    { LTarget: '${node.class}', RTarget: 'ci', Operand: '=' },
    { LTarget: '${meta.tier}', RTarget: 'build', Operand: '=' },
  ]);
  assert.equal(nomadJobOf({ ...task, resourceClass: 'machine:large' }, { ...settings, nodeClass: undefined }).Constraints, [
    { LTarget: '${attr.kernel.name}', RTarget: 'linux', Operand: '=' },
  ]);
});

const evaluation = (e: Partial<NomadEvaluation>): NomadEvaluation => ({ ID: 'e', Status: 'complete', CreateIndex: 1, ModifyIndex: 1, ...e });

test("placement failures read as Nomad's own: exhausted dimensions, filtered constraints, no eligible node", () => {
  assert.is(
    placementFailure({ NodesEvaluated: 2, NodesExhausted: 2, DimensionExhausted: { memory: 2 } }),
    'resources exhausted on 2 of 2 nodes (memory on 2 nodes)',
  );
  assert.is(
    placementFailure({ NodesEvaluated: 3, ConstraintFiltered: { '${node.class} = ci': 3 } }),
    'constraint not met: ${node.class} = ci filtered 3 nodes',
  );
  assert.match(placementFailure({ NodesEvaluated: 0 }), /^no node is eligible/);
  // the newest evaluation speaks; one that placed says nothing is wrong
  const failed = evaluation({ ID: 'old', CreateIndex: 5, FailedTGAllocs: { task: { NodesEvaluated: 1, NodesExhausted: 1, DimensionExhausted: { cpu: 1 } } } });
  assert.is(waitingReason([failed]), 'Nomad cannot place it: resources exhausted on 1 of 1 node (cpu on 1 node)');
  assert.is(waitingReason([failed, evaluation({ ID: 'new', CreateIndex: 9 })]), null);
  assert.is(
    waitingReason([evaluation({ Status: 'failed', StatusDescription: 'maximum attempts reached' })]),
    "Nomad's evaluation failed: maximum attempts reached",
  );
});

test('an allocation ends complete, failed or lost, in words naming its node and its last task event', () => {
  const alloc = (a: Partial<NomadAllocation>): NomadAllocation => ({
    ID: '0123456789abcdef',
    NodeID: 'n1',
    NodeName: 'build-a',
    ClientStatus: 'running',
    DesiredStatus: 'run',
    CreateIndex: 1,
    ModifyIndex: 1,
    ...a,
  });
  assert.is(allocationEnd(alloc({})), null);
  assert.is(allocationEnd(alloc({ ClientStatus: 'pending' })), null);
  assert.is(allocationEnd(alloc({ ClientStatus: 'lost' })), 'Nomad allocation 01234567 on build-a was lost (its node stopped answering)');
  assert.is(
    allocationEnd(
      alloc({
        ClientStatus: 'failed',
        TaskStates: {
          agent: { State: 'dead', Failed: true, Events: [{ Type: 'Received' }, { Type: 'Driver Failure', DisplayMessage: 'no such file: gyre' }] },
        },
      }),
    ),
    'Nomad allocation 01234567 on build-a failed: Driver Failure, no such file: gyre',
  );
});

test.run();
