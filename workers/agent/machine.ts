import { cpus, hostname, platform, release, totalmem } from 'node:os';
import type { AgentInfo } from '../../domain/agents/protocol.ts';
import { largestMachine, offeredCapacity, type Size } from '../../domain/scheduling/capacity.ts';

export const agentVersion = '0.1.0';

/** This machine's size, as the operating system reports it. */
export const machineSize = (): Size => ({ cpus: cpus().length, memoryMb: Math.floor(totalmem() / 1024 / 1024) });

/** The name an agent goes by when not given one: this machine's host name, as agent names may spell it. */
export const defaultAgentName = (): string =>
  hostname()
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '') || 'agent';

export interface AgentPlan {
  readonly name?: string;
  /** What to keep back for the machine itself; the local agent keeps nothing. */
  readonly reserve: Size;
  readonly maxTasks: number | null;
  readonly kinds: AgentInfo['kinds'];
  readonly declined: AgentInfo['declined'];
  /** The agent inside `gyre serve` runs on whatever machine Gyre is on: it takes at most the largest size instead of refusing. */
  readonly local?: boolean;
}

/** What this agent tells Gyre it offers. */
export const agentInfo = (plan: AgentPlan, size: Size = machineSize()): AgentInfo => {
  const machine = plan.local ? { cpus: Math.min(size.cpus, largestMachine.cpus), memoryMb: Math.min(size.memoryMb, largestMachine.memoryMb) } : size;
  return {
    name: plan.name ?? defaultAgentName(),
    version: agentVersion,
    os: `${platform()} ${release()}`,
    capacity: offeredCapacity(machine, plan.reserve),
    reserved: machine.cpus <= plan.reserve.cpus || machine.memoryMb <= plan.reserve.memoryMb ? { cpus: 0, memoryMb: 0 } : plan.reserve,
    maxTasks: plan.maxTasks,
    kinds: plan.kinds,
    declined: plan.declined,
  };
};

/** How many CPUs a cpuset such as `0-3,6` names. */
const cpusetSize = (set: string) =>
  set
    .split(',')
    .map((part) => part.trim().split('-').map(Number))
    .reduce((n, [from, to]) => n + (to === undefined ? 1 : to! - from! + 1), 0);

/**
 * The size of the Nomad allocation this agent runs in, from the environment Nomad gives its task
 * (NOMAD_MEMORY_LIMIT, and NOMAD_CPU_CORES or NOMAD_CPU_LIMIT in MHz at GYRE_AGENT_MHZ_PER_CPU);
 * null outside one.
 */
export const allocationSize = (env: NodeJS.ProcessEnv): Size | null => {
  const memoryMb = Number(env.NOMAD_MEMORY_LIMIT);
  if (!env.NOMAD_MEMORY_LIMIT || !Number.isFinite(memoryMb) || memoryMb <= 0) return null;
  const cores = env.NOMAD_CPU_CORES ? cpusetSize(env.NOMAD_CPU_CORES) : 0;
  const mhz = Number(env.NOMAD_CPU_LIMIT) || 0;
  const perCpu = Number(env.GYRE_AGENT_MHZ_PER_CPU) || 1000;
  return { cpus: cores > 0 ? cores : Math.max(mhz / perCpu, 0.1), memoryMb };
};
