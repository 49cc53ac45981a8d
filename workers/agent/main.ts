import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { connectDocker } from '../../adapters/docker/connect.ts';
import { createDockerExecutor } from '../../adapters/docker/executor.ts';
import { createEcr } from '../../adapters/ecr/client.ts';
import { createGit } from '../../adapters/git/cli.ts';
import { createHostExecutor } from '../../adapters/host/executor.ts';
import { AgentInfo, type AgentChannel } from '../../domain/agents/protocol.ts';
import { GyreError, ValidationError } from '../../domain/errors.ts';
import { defaultReserve, largestMachine, offeredCapacity, type Size } from '../../domain/scheduling/capacity.ts';
import { startAgent, type Agent } from './agent.ts';
import { ChannelError, createHttpChannel } from './http-channel.ts';
import { agentInfo, allocationSize, defaultAgentName, machineSize } from './machine.ts';
import { provisionWith } from './provision.ts';

/**
 * `gyre agent`: the agent for build machines, and its composition root (the one place it picks its
 * adapters: the HTTP channel, Docker when an engine answers, the host, git).
 */

export const agentUsage = `usage: gyre agent --host <url> --token <runner token> [options]

Runs jobs on this machine for a Gyre server: registers what the machine offers with a runner token,
then long-polls for tasks. Docker jobs run in containers when a Docker engine answers (DOCKER_HOST or
/var/run/docker.sock); machine and self-hosted jobs run on the host, each in a fresh directory.

options for agent:
  --host <url>            Gyre's URL (or GYRE_URL; default http://127.0.0.1:8080)
  --token <t>             a runner token (or GYRE_TOKEN): of a class namespace/name for a self-hosted
                          runner, or of the class docker or machine for a build machine of the fleet
  --name <n>              this agent's name (default: the host name); the same token and name are the
                          same agent, so a restarted agent's unfinished tasks end at once
  --reserve-cpus <n>      CPUs kept back for the machine itself (default 2)
  --reserve-memory <m>    memory kept back, in MB or like 4g (default 4g); a machine too small for
                          the reserve keeps none
  --max-tasks <n>         tasks at once (default: 1 for a self-hosted class, as many as fit for a fleet)
  --work-dir <dir>        where tasks on the host get their directories (default $TMPDIR/gyre-agent-<name>)
  --one-shot              run one task, then exit

SIGTERM or SIGINT stops claiming and lets running tasks finish; a second signal abandons them.
`;

export interface AgentFlags {
  readonly host: string;
  readonly token: string;
  readonly name: string;
  readonly reserve: Size;
  readonly maxTasks: number | null;
  readonly workDir: string;
  readonly oneShot: boolean;
}

const number = (value: string, flag: string, { min, max, integer }: { min: number; max: number; integer?: boolean }) => {
  const n = Number(value.trim());
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new ValidationError(`${flag} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}, not ${JSON.stringify(value)}`);
  }
  return n;
};

/** Megabytes: `4096`, `512m`, `4g` (`mb`, `gb`, `mi`, `gi` too). */
export const parseMemoryMb = (value: string, flag = '--reserve-memory'): number => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(m|mb|mi|mib|g|gb|gi|gib)?\s*$/i.exec(value);
  if (!m) throw new ValidationError(`${flag} must be megabytes (4096) or a size like 512m or 4g, not ${JSON.stringify(value)}`);
  const mb = Math.round(Number(m[1]) * (m[2]?.toLowerCase().startsWith('g') ? 1024 : 1));
  if (mb > largestMachine.memoryMb) throw new ValidationError(`${flag} must be at most ${largestMachine.memoryMb / 1024}g, the largest build machine`);
  return mb;
};

/** The flags of `gyre agent`, with GYRE_URL and GYRE_TOKEN as fallbacks. */
export const parseAgentFlags = (args: string[], env: NodeJS.ProcessEnv = process.env): AgentFlags => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      host: { type: 'string' },
      token: { type: 'string' },
      name: { type: 'string' },
      'reserve-cpus': { type: 'string' },
      'reserve-memory': { type: 'string' },
      'max-tasks': { type: 'string' },
      'work-dir': { type: 'string' },
      'one-shot': { type: 'boolean', default: false },
    },
  });
  if (positionals.length) throw new ValidationError(`gyre agent takes no arguments, only options (got ${positionals.join(' ')})\n\n${agentUsage}`);
  const token = values.token || env.GYRE_TOKEN;
  if (!token)
    throw new ValidationError(
      'no runner token: pass --token or set GYRE_TOKEN (an admin creates one with the createRunnerToken mutation or `circleci runner token create <class> <nickname>`)',
    );
  const name = values.name ?? defaultAgentName();
  const named = AgentInfo.shape.name.safeParse(name);
  if (!named.success) throw new ValidationError(`--name ${named.error.issues[0]!.message}`);
  return {
    host: values.host || env.GYRE_URL || 'http://127.0.0.1:8080',
    token,
    name: named.data,
    reserve: {
      cpus: values['reserve-cpus'] === undefined ? defaultReserve.cpus : number(values['reserve-cpus'], '--reserve-cpus', { min: 0, max: largestMachine.cpus }),
      memoryMb: values['reserve-memory'] === undefined ? defaultReserve.memoryMb : parseMemoryMb(values['reserve-memory']),
    },
    maxTasks: values['max-tasks'] === undefined ? null : number(values['max-tasks'], '--max-tasks', { min: 1, max: 1000, integer: true }),
    workDir: resolve(values['work-dir'] ?? join(tmpdir(), `gyre-agent-${named.data}`)),
    oneShot: values['one-shot'] ?? false,
  };
};

/** The machine's size; GYRE_AGENT_TEST_CPUS and GYRE_AGENT_TEST_MEMORY_MB stand in for it in tests. */
const detectedSize = (env: NodeJS.ProcessEnv): Size => {
  const real = machineSize();
  return {
    cpus: env.GYRE_AGENT_TEST_CPUS ? Number(env.GYRE_AGENT_TEST_CPUS) : real.cpus,
    memoryMb: env.GYRE_AGENT_TEST_MEMORY_MB ? Number(env.GYRE_AGENT_TEST_MEMORY_MB) : real.memoryMb,
  };
};

/** Registration waits out a Gyre that is down or restarting; a refusal (bad token) ends the agent. */
const registerPatiently = (channel: AgentChannel, host: string, log: (m: string, f?: Record<string, unknown>) => void, stopped: AbortSignal): AgentChannel => ({
  ...channel,
  async register(info) {
    let backoff = 1000;
    for (;;) {
      try {
        return await channel.register(info);
      } catch (e) {
        if (e instanceof ChannelError && e.status < 500)
          throw new ChannelError(`Gyre at ${host} refused to register this agent: ${e.message}`, e.code, e.status);
        if (stopped.aborted) throw new GyreError('stopped before Gyre answered', 'AGENT_STOPPED', 0);
        log('cannot register yet; retrying', {
          host,
          error: e instanceof Error ? ((e.cause as Error | undefined)?.message ?? e.message) : String(e),
          retryInMs: backoff,
        });
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 10_000);
      }
    }
  },
});

export interface AgentRun {
  readonly env?: NodeJS.ProcessEnv;
  readonly out?: { write(line: string): unknown };
  /** Where SIGTERM and SIGINT come from (the process). */
  readonly signals?: Pick<NodeJS.Process, 'on' | 'off'>;
}

/**
 * Runs the agent until it stops: after one task with `--one-shot`, or after a signal once its running
 * tasks end. Refuses a machine larger than a build machine may be before it connects to anything.
 */
export const runBuildAgent = async (flags: AgentFlags, run: AgentRun = {}): Promise<void> => {
  const env = run.env ?? process.env;
  const out = run.out ?? process.stdout;
  const signals = run.signals ?? process;
  const log = (message: string, fields: Record<string, unknown> = {}) =>
    void out.write(
      `${new Date().toISOString()} ${message}${Object.entries(fields)
        .map(([k, v]) => ` ${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join('')}\n`,
    );

  // a one-shot agent in a Nomad allocation offers the allocation, all of it: Nomad reserved it for the task
  const allocation = flags.oneShot ? allocationSize(env) : null;
  const size = allocation ?? detectedSize(env);
  const reserve = allocation ? { cpus: 0, memoryMb: 0 } : flags.reserve;
  offeredCapacity(size, reserve); // throws for a machine over 64 CPUs or 128 GB

  mkdirSync(flags.workDir, { recursive: true, mode: 0o700 });
  const host = createHostExecutor({ root: flags.workDir });
  // what a run killed mid-task left: its steps' processes and its task directories
  const tasks = await host.removeLeftovers();
  if (tasks) log('ended the processes and removed the directories of tasks an earlier run left', { count: tasks, workDir: flags.workDir });
  const connected = await connectDocker(env);
  // containers carry the agent's name, so a restarted agent of that name finds what its last run left
  const docker = 'docker' in connected ? createDockerExecutor(connected.docker, { agentId: `agent:${flags.name}` }) : null;
  if (docker) {
    const removed = await docker.removeLeftovers();
    if (removed) log('removed containers an earlier run left', { count: removed });
  } else log('docker jobs off', { reason: 'reason' in connected ? connected.reason : '' });

  const info = agentInfo(
    {
      name: flags.name,
      reserve,
      maxTasks: flags.oneShot ? 1 : flags.maxTasks,
      kinds: docker ? ['docker', 'machine'] : ['machine'],
      declined: 'reason' in connected ? [{ kind: 'docker', reason: `agent ${flags.name}: ${connected.reason}` }] : [],
    },
    size,
  );

  let agent: Agent | null = null;
  let signalled = 0;
  const registering = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    signalled += 1;
    if (!agent) {
      registering.abort();
      return;
    }
    if (signalled === 1) {
      log(`${signal}: claiming no more tasks; waiting for the running ones to finish (${signal} again abandons them)`, { running: agent.running().length });
      void agent.stop();
    } else {
      log(`${signal}: abandoning the running tasks; Gyre ends them when this agent registers again or its lease runs out`, { running: agent.running().length });
      void agent.stop({ abandon: true });
    }
  };
  signals.on('SIGTERM', onSignal);
  signals.on('SIGINT', onSignal);
  try {
    const channel = registerPatiently(createHttpChannel(flags.host, flags.token), flags.host, log, registering.signal);
    try {
      agent = await startAgent({
        channel,
        info,
        git: createGit(join(flags.workDir, '.git-home')),
        provision: provisionWith({ docker, host }, { ecr: createEcr() }),
        oneShot: flags.oneShot,
        log,
      });
    } catch (e) {
      if ((e as GyreError).code === 'AGENT_STOPPED') return;
      throw e;
    }
    const r = agent.registration;
    log('registered', {
      agent: info.name,
      id: r.agentId,
      classes: r.resourceClasses.join(','),
      cpus: info.capacity.cpus,
      memoryMb: info.capacity.memoryMb,
      reserved: info.reserved,
      maxTasks: (r.maxTasks === undefined ? info.maxTasks : r.maxTasks) ?? 'as many as fit',
      kinds: info.kinds.join(','),
    });
    if (signalled) void agent.stop();
    await agent.done;
    log('stopped');
  } finally {
    signals.off('SIGTERM', onSignal);
    signals.off('SIGINT', onSignal);
  }
};
