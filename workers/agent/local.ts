import type { AgentChannel, AgentInfo } from '../../domain/agents/protocol.ts';
import type { Git } from '../../adapters/git/port.ts';
import { startAgent, type Agent } from './agent.ts';
import { agentInfo } from './machine.ts';
import { provisionWith, type Executors, type Registries } from './provision.ts';

export interface LocalAgentOptions {
  readonly channel: AgentChannel;
  readonly git: Pick<Git, 'checkout'>;
  /** null with the reason when there is none. */
  readonly docker: NonNullable<Executors['docker']> | { reason: string };
  readonly host: NonNullable<Executors['host']> | { reason: string };
  /** Where credentials of images with `aws_auth` come from. */
  readonly ecr: Registries['ecr'];
  readonly log: (message: string, fields?: Record<string, unknown>) => void;
}

const present = <T extends object>(x: T | { reason: string }): T | null => ('reason' in x ? null : (x as T));

/**
 * The agent inside `gyre serve`, for this machine: it keeps nothing back, runs docker jobs when a
 * Docker engine answers, and machine jobs on the host only when told to. What it cannot run it
 * declines, with the reason, so a waiting job can say why it waits.
 */
export const startLocalAgent = async (o: LocalAgentOptions): Promise<Agent> => {
  const docker = present(o.docker);
  const host = present(o.host);
  const declined: AgentInfo['declined'] = [];
  if ('reason' in o.docker) declined.push({ kind: 'docker', reason: `the local agent has ${o.docker.reason}` });
  if ('reason' in o.host) declined.push({ kind: 'machine', reason: o.host.reason });
  const info = agentInfo({
    name: 'local',
    reserve: { cpus: 0, memoryMb: 0 },
    maxTasks: null,
    kinds: [...(docker ? ['docker' as const] : []), ...(host ? ['machine' as const] : [])],
    declined,
    local: true,
  });
  return startAgent({ channel: o.channel, info, git: o.git, provision: provisionWith({ docker, host }, { ecr: o.ecr }), log: o.log });
};
