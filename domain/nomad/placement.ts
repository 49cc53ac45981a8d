import { z } from 'zod';
import type { Decider } from '../decider.ts';
import { defineEvent, type EventOf } from '../events/registry.ts';

/**
 * One stream per task Nomad places: its Nomad job, the single-use token its one-shot agent claims
 * the task with (sealed; only its hash is compared), why Nomad has not placed it yet, the allocation
 * it got, and its end. Gyre's job stream stays the task's truth; this one says how Nomad ran it.
 */
export const placementStream = (jobId: string, taskIndex: number) => `nomad-placement-${jobId}-${taskIndex}`;
/** The Nomad job of a task: derived from the task, so registering it again cannot make a second. */
export const nomadJobId = (jobId: string, taskIndex: number) => `gyre-${jobId}-${taskIndex}`;
/** The data key a placement's token is sealed under, and its label. */
export const placementTokenOwner = 'gyre:nomad';
export const placementTokenLabel = (jobId: string, taskIndex: number) => `nomad task token ${jobId}/${taskIndex}`;
export const placementTarget = (p: { jobId: string; taskIndex: number; name: string }) => ({
  id: nomadJobId(p.jobId, p.taskIndex),
  type: 'nomad_job',
  name: `${p.name} (task ${p.taskIndex})`,
});

const task = { jobId: z.string(), taskIndex: z.number().int().min(0), name: z.string(), nomadJobId: z.string() };
const taskFields = ['jobId', 'taskIndex', 'name', 'nomadJobId'] as const;

export const placementSubmitted = defineEvent(
  'nomad.job.submit',
  z.object({ ...task, resourceClass: z.string(), tokenHash: z.string(), sealedToken: z.string() }),
  { publicFields: [...taskFields, 'resourceClass'] },
);
export const placementRegistered = defineEvent('nomad.job.register', z.object({ ...task, evalId: z.string() }), {
  publicFields: [...taskFields, 'evalId'],
});
/** Nomad has not placed it, or refused it: the reason, in words, each time it changes. */
export const placementWaiting = defineEvent('nomad.job.wait', z.object({ ...task, reason: z.string() }), { publicFields: [...taskFields, 'reason'] });
export const placementAllocated = defineEvent('nomad.job.allocate', z.object({ ...task, allocationId: z.string(), nodeId: z.string(), nodeName: z.string() }), {
  publicFields: [...taskFields, 'allocationId', 'nodeId', 'nodeName'],
});
/** Its allocation ended (failed, lost, or exited) with the task still Gyre's to finish: the task ends infrastructure_fail. */
export const placementFailed = defineEvent('nomad.job.fail', z.object({ ...task, allocationId: z.string().nullable(), reason: z.string() }), {
  publicFields: [...taskFields, 'allocationId', 'reason'],
});
/** The task ended: its Nomad job was stopped and purged, and its token no longer works. */
export const placementStopped = defineEvent('nomad.job.stop', z.object({ ...task }), { publicFields: [...taskFields] });

export const placementEvents = [placementSubmitted, placementRegistered, placementWaiting, placementAllocated, placementFailed, placementStopped];
export type PlacementEvent =
  | EventOf<typeof placementSubmitted>
  | EventOf<typeof placementRegistered>
  | EventOf<typeof placementWaiting>
  | EventOf<typeof placementAllocated>
  | EventOf<typeof placementFailed>
  | EventOf<typeof placementStopped>;

export interface Placement {
  readonly jobId: string;
  readonly taskIndex: number;
  readonly name: string;
  readonly nomadJobId: string;
  readonly resourceClass: string;
  readonly evalId: string | null;
  readonly reason: string | null;
  readonly allocations: ReadonlyArray<string>;
  readonly failed: boolean;
  readonly stopped: boolean;
}
export type PlacementState = Placement | null;

export type PlacementCommand =
  | { type: 'submit'; jobId: string; taskIndex: number; name: string; resourceClass: string; tokenHash: string; sealedToken: string }
  | { type: 'register'; evalId: string }
  | { type: 'wait'; reason: string }
  | { type: 'allocate'; allocationId: string; nodeId: string; nodeName: string }
  | { type: 'fail'; allocationId: string | null; reason: string }
  | { type: 'stop' };

const evolve = (s: PlacementState, e: PlacementEvent): PlacementState => {
  if (e.type === 'nomad.job.submit') {
    const { jobId, taskIndex, name, nomadJobId, resourceClass } = e.data;
    return { jobId, taskIndex, name, nomadJobId, resourceClass, evalId: null, reason: null, allocations: [], failed: false, stopped: false };
  }
  if (!s) return s;
  switch (e.type) {
    case 'nomad.job.register':
      return { ...s, evalId: e.data.evalId, reason: null };
    case 'nomad.job.wait':
      return { ...s, reason: e.data.reason };
    case 'nomad.job.allocate':
      return { ...s, reason: null, allocations: [...s.allocations, e.data.allocationId] };
    case 'nomad.job.fail':
      return { ...s, failed: true };
    case 'nomad.job.stop':
      return { ...s, stopped: true };
  }
};

const ids = (s: Placement) => ({ jobId: s.jobId, taskIndex: s.taskIndex, name: s.name, nomadJobId: s.nomadJobId });

/** Every command but `submit` is a fact Nomad told, recorded once: told again, it changes nothing. */
export const placementDecider: Decider<PlacementState, PlacementCommand, PlacementEvent> = {
  initialState: () => null,
  evolve,
  decide: (c, s) => {
    if (c.type === 'submit') {
      if (s) return [];
      const { type: _, ...data } = c;
      return [{ type: 'nomad.job.submit', data: { ...data, nomadJobId: nomadJobId(c.jobId, c.taskIndex) } }];
    }
    if (!s || s.stopped) return [];
    switch (c.type) {
      case 'register':
        return s.evalId === c.evalId ? [] : [{ type: 'nomad.job.register', data: { ...ids(s), evalId: c.evalId } }];
      case 'wait':
        return s.reason === c.reason || s.failed ? [] : [{ type: 'nomad.job.wait', data: { ...ids(s), reason: c.reason } }];
      case 'allocate':
        return s.allocations.includes(c.allocationId) || s.failed
          ? []
          : [{ type: 'nomad.job.allocate', data: { ...ids(s), allocationId: c.allocationId, nodeId: c.nodeId, nodeName: c.nodeName } }];
      case 'fail':
        return s.failed ? [] : [{ type: 'nomad.job.fail', data: { ...ids(s), allocationId: c.allocationId, reason: c.reason } }];
      case 'stop':
        return [{ type: 'nomad.job.stop', data: ids(s) }];
    }
  },
};
