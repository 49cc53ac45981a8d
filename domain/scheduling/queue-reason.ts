import type { AgentInfo } from '../agents/protocol.ts';
import { freeCapacity, type AgentLoad } from './placement.ts';
import type { Size } from './capacity.ts';

export interface AgentView extends AgentLoad {
  readonly name: string;
  readonly resourceClasses: ReadonlyArray<string>;
  readonly declined: AgentInfo['declined'];
  /** Heard from within its lease. */
  readonly online: boolean;
}

const kindOf = (resourceClass: string): 'docker' | 'machine' | null =>
  resourceClass.startsWith('docker:') ? 'docker' : resourceClass.startsWith('machine:') ? 'machine' : null;

/** Why a queued task waits, in words an operator can act on; null when an agent could take it now. */
export const queueReason = (task: { resourceClass: string; size: Size }, agents: ReadonlyArray<AgentView>): string | null => {
  const serving = agents.filter((a) => a.online && a.resourceClasses.includes(task.resourceClass));
  if (serving.length === 0) {
    const kind = kindOf(task.resourceClass);
    const declined = agents.filter((a) => a.online).flatMap((a) => a.declined.filter((d) => d.kind === kind).map((d) => `${a.name}: ${d.reason}`));
    if (declined.length) return `no agent serves resource class ${task.resourceClass} (${declined.join('; ')})`;
    return `no agent serves resource class ${task.resourceClass}: start one with gyre agent and a token of that class`;
  }
  const room = serving.filter((a) => {
    if (a.maxTasks !== null && a.running.length >= a.maxTasks) return false;
    if (a.running.length === 0) return true;
    const free = freeCapacity(a);
    return task.size.cpus <= free.cpus && task.size.memoryMb <= free.memoryMb;
  });
  if (room.length === 0)
    return `no agent has room: ${serving.length} agent${serving.length === 1 ? '' : 's'} serve${serving.length === 1 ? 's' : ''} ${task.resourceClass}, all busy`;
  return null;
};
