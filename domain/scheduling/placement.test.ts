import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { offeredCapacity } from './capacity.ts';
import { placeTask, type QueuedTask } from './placement.ts';
import { queueReason, type AgentView } from './queue-reason.ts';

const test = suite('domain/scheduling: capacity and placement');
const task = (jobId: string, cpus: number, memoryMb: number, queuedAt = jobId): QueuedTask => ({
  jobId,
  taskIndex: 0,
  resourceClass: 'docker:x',
  size: { cpus, memoryMb },
  queuedAt,
});

test('a build machine offers what it has less 2 vCPUs and 4 GB; a small one keeps nothing back; a huge one is refused', () => {
  assert.equal(offeredCapacity({ cpus: 16, memoryMb: 65536 }), { cpus: 14, memoryMb: 61440 });
  assert.equal(offeredCapacity({ cpus: 2, memoryMb: 8192 }), { cpus: 2, memoryMb: 8192 });
  assert.equal(offeredCapacity({ cpus: 8, memoryMb: 16384 }, { cpus: 0, memoryMb: 0 }), { cpus: 8, memoryMb: 16384 });
  assert.throws(() => offeredCapacity({ cpus: 96, memoryMb: 65536 }), /at most 64 CPUs and 128 GB/);
  assert.throws(() => offeredCapacity({ cpus: 8, memoryMb: 256 * 1024 }), /at most 64 CPUs/);
});

test('an idle agent takes the oldest task whatever its size; a busy one the oldest that fits', () => {
  const queue = [task('big', 4, 8192, '1'), task('small', 1, 2048, '2')];
  assert.is(placeTask(queue, { capacity: { cpus: 2, memoryMb: 4096 }, running: [], maxTasks: null })?.jobId, 'big');
  assert.is(placeTask(queue, { capacity: { cpus: 6, memoryMb: 12288 }, running: [{ cpus: 4, memoryMb: 8192 }], maxTasks: null })?.jobId, 'small');
  assert.is(placeTask(queue, { capacity: { cpus: 4, memoryMb: 8192 }, running: [{ cpus: 4, memoryMb: 8192 }], maxTasks: null }), undefined);
  assert.is(placeTask(queue, { capacity: { cpus: 64, memoryMb: 131072 }, running: [{ cpus: 1, memoryMb: 1 }], maxTasks: 1 }), undefined, 'at its task limit');
  assert.is(placeTask([], { capacity: { cpus: 2, memoryMb: 4096 }, running: [], maxTasks: null }), undefined);
});

test('why a task waits: no agent for its class (and what declined it), or no room', () => {
  const size = { cpus: 2, memoryMb: 4096 };
  const agent = (extra: Partial<AgentView>): AgentView => ({
    name: 'local',
    resourceClasses: ['docker:medium'],
    declined: [],
    online: true,
    capacity: size,
    running: [],
    maxTasks: null,
    ...extra,
  });
  assert.match(queueReason({ resourceClass: 'acme/gpu', size }, [agent({})])!, /no agent serves resource class acme\/gpu/);
  assert.match(
    queueReason({ resourceClass: 'docker:medium', size }, [agent({ resourceClasses: [], declined: [{ kind: 'docker', reason: 'no Docker engine' }] })])!,
    /no Docker engine/,
  );
  assert.match(queueReason({ resourceClass: 'docker:medium', size }, [agent({ online: false })])!, /no agent serves/);
  assert.match(
    queueReason({ resourceClass: 'docker:medium', size }, [agent({ running: [size] })])!,
    /no agent has room: 1 agent serves docker:medium, all busy/,
  );
  assert.is(queueReason({ resourceClass: 'docker:medium', size }, [agent({})]), null);
});

test.run();
