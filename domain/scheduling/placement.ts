import type { Size } from './capacity.ts';

/** A task waiting in its resource class's queue. */
export interface QueuedTask {
  readonly jobId: string;
  readonly taskIndex: number;
  readonly resourceClass: string;
  readonly size: Size;
  readonly queuedAt: string;
}

/** An agent as placement sees it: what it offers, what it runs, and how many tasks it takes at once. */
export interface AgentLoad {
  readonly capacity: Size;
  readonly running: ReadonlyArray<Size>;
  /** null: as many as fit. */
  readonly maxTasks: number | null;
}

export const freeCapacity = (a: AgentLoad): Size => ({
  cpus: a.capacity.cpus - a.running.reduce((n, r) => n + r.cpus, 0),
  memoryMb: a.capacity.memoryMb - a.running.reduce((n, r) => n + r.memoryMb, 0),
});

const fits = (size: Size, free: Size) => size.cpus <= free.cpus && size.memoryMb <= free.memoryMb;

/**
 * The task an agent takes next from the queues it serves, given oldest first: the oldest that fits in
 * what it has free. An idle agent always takes the oldest, whatever its size, so a small machine
 * still runs a large job; an agent at its task limit takes nothing.
 */
export const placeTask = (queued: ReadonlyArray<QueuedTask>, agent: AgentLoad): QueuedTask | undefined => {
  if (agent.maxTasks !== null && agent.running.length >= agent.maxTasks) return undefined;
  if (agent.running.length === 0) return queued[0];
  const free = freeCapacity(agent);
  return queued.find((t) => fits(t.size, free));
};
