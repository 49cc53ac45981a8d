import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { allocationSize } from './machine.ts';
import { parseAgentFlags, parseMemoryMb } from './main.ts';

const test = suite('workers/agent/main: the flags of gyre agent');

test('memory is megabytes, or a size in m or g', () => {
  assert.equal(
    ['4096', '512m', '4g', '4G', '1.5gb', '0', '2048MiB'].map((v) => parseMemoryMb(v)),
    [4096, 512, 4096, 4096, 1536, 0, 2048],
  );
  for (const bad of ['4x', '-1', 'g', '', '200g']) assert.throws(() => parseMemoryMb(bad), /--reserve-memory must/, bad);
});

test('defaults: the 2 CPU / 4 GB reserve, no task limit, GYRE_URL and GYRE_TOKEN', () => {
  const f = parseAgentFlags(['--name', 'box-1'], { GYRE_URL: 'http://gyre:8080', GYRE_TOKEN: 't' });
  assert.equal(
    { ...f, workDir: undefined },
    { host: 'http://gyre:8080', token: 't', name: 'box-1', reserve: { cpus: 2, memoryMb: 4096 }, maxTasks: null, workDir: undefined, oneShot: false },
  );
  assert.match(f.workDir, /gyre-agent-box-1$/);
});

test('flags win over the environment and say what is wrong', () => {
  const f = parseAgentFlags(
    [
      '--host',
      'http://a',
      '--token',
      'x',
      '--name',
      'n',
      '--reserve-cpus',
      '0.5',
      '--reserve-memory',
      '1g',
      '--max-tasks',
      '3',
      '--work-dir',
      '/tmp/w',
      '--one-shot',
    ],
    { GYRE_TOKEN: 'y' },
  );
  assert.equal(f, { host: 'http://a', token: 'x', name: 'n', reserve: { cpus: 0.5, memoryMb: 1024 }, maxTasks: 3, workDir: '/tmp/w', oneShot: true });
  assert.throws(() => parseAgentFlags([], {}), /no runner token: pass --token or set GYRE_TOKEN/);
  assert.throws(() => parseAgentFlags(['--token', 'x', '--max-tasks', '0'], {}), /--max-tasks must be a whole number from 1 to 1000/);
  assert.throws(() => parseAgentFlags(['--token', 'x', '--reserve-cpus', 'two'], {}), /--reserve-cpus must be a number/);
  assert.throws(() => parseAgentFlags(['--token', 'x', '--name', 'a b'], {}), /--name must be letters/);
  assert.throws(() => parseAgentFlags(['--token', 'x', 'extra'], {}), /takes no arguments/);
});

test("a one-shot agent in a Nomad allocation takes its size from the allocation's environment", () => {
  assert.is(allocationSize({}), null, 'outside Nomad: the machine');
  assert.equal(allocationSize({ NOMAD_MEMORY_LIMIT: '6144', NOMAD_CPU_CORES: '0-1,4' }), { cpus: 3, memoryMb: 6144 });
  assert.equal(allocationSize({ NOMAD_MEMORY_LIMIT: '4096', NOMAD_CPU_LIMIT: '4800', GYRE_AGENT_MHZ_PER_CPU: '2400' }), { cpus: 2, memoryMb: 4096 });
});

test.run();
