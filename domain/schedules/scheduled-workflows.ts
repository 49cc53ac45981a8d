import { z } from 'zod';
import type { ProcessedConfig } from '../config/process.ts';
import { defineEvent, type EventOf } from '../events/registry.ts';
import type { Decider } from '../decider.ts';
import { parseCron } from './timetable.ts';

/**
 * Legacy scheduled workflows: `triggers: [{schedule: {cron, filters: {branches: {only}}}}]` on a
 * workflow of the config on the project's default branch. At each cron time (UTC) a pipeline starts
 * on each branch the filter names, running that workflow only. Their runs are decided on one stream
 * per project, so a cron time fires once however many servers look.
 */
export const scheduledWorkflowsStream = (projectId: string) => `scheduled-workflows-${projectId}`;
export const scheduledWorkflowsTarget = (p: { projectId: string; projectSlug: string }) => ({ id: p.projectId, type: 'project', name: p.projectSlug });

/** One schedule trigger of one workflow; `index`: its place among the workflow's triggers (a workflow may have several). */
export interface ScheduledWorkflow {
  readonly workflow: string;
  readonly index: number;
  readonly cron: string;
  /** The branch names the trigger's `branches.only` lists; a `/regex/` names no branch to build and is left out. */
  readonly branches: ReadonlyArray<string>;
}
/** What makes one trigger what it is: its workflow and place. */
export const scheduledWorkflowKey = (s: { workflow: string; index: number }) => `${s.workflow}#${s.index}`;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const listOf = (v: unknown): string[] => (v === undefined || v === null ? [] : (Array.isArray(v) ? v : [v]).map(String));

/**
 * The schedule triggers a processed config declares, and what is wrong with the others (a trigger
 * without a cron or a branches filter, a cron that does not parse): those never run.
 */
export const scheduledWorkflowsOf = (config: ProcessedConfig): { schedules: ScheduledWorkflow[]; problems: string[] } => {
  const schedules: ScheduledWorkflow[] = [];
  const problems: string[] = [];
  for (const [workflow, wf] of Object.entries(config.workflows ?? {})) {
    if (wf.triggers === undefined) continue;
    if (!Array.isArray(wf.triggers)) {
      problems.push(`workflow ${workflow}: triggers must be a list`);
      continue;
    }
    for (const [index, t] of (wf.triggers as unknown[]).entries()) {
      const schedule = isRecord(t) ? t.schedule : undefined;
      if (!isRecord(schedule)) {
        problems.push(`workflow ${workflow}: trigger ${index + 1} is not a schedule (triggers take - schedule: {cron, filters})`);
        continue;
      }
      const cron = typeof schedule.cron === 'string' ? schedule.cron.trim() : null;
      if (cron === null) {
        problems.push(`workflow ${workflow}: its schedule needs a cron`);
        continue;
      }
      const parsed = parseCron(cron);
      if (!parsed.ok) {
        problems.push(`workflow ${workflow}: ${parsed.error}`);
        continue;
      }
      const branches = isRecord(schedule.filters) && isRecord(schedule.filters.branches) ? listOf(schedule.filters.branches.only) : null;
      if (branches === null) {
        problems.push(`workflow ${workflow}: its schedule needs filters: {branches: {only: [...]}} naming the branches to build`);
        continue;
      }
      const ignored = isRecord(schedule.filters) && isRecord(schedule.filters.branches) ? listOf(schedule.filters.branches.ignore) : [];
      schedules.push({ workflow, index, cron, branches: branches.filter((b) => !/^\/.*\/$/s.test(b) && !ignored.includes(b)) });
    }
  }
  return { schedules, problems };
};

/** A cron time of one trigger decided; a reactor starts a pipeline on each of `branches` for it. */
export const scheduledWorkflowTriggered = defineEvent(
  'schedule.workflow.trigger',
  z.object({
    projectId: z.string(),
    projectSlug: z.string(),
    workflow: z.string(),
    index: z.number().int(),
    cron: z.string(),
    branches: z.array(z.string()),
    slot: z.string(),
  }),
  { publicFields: ['projectId', 'projectSlug', 'workflow', 'index', 'cron', 'branches', 'slot'] },
);
/**
 * The schedules worker first saw a declared trigger, at `from` by its own clock: only cron times after
 * `from` run (a config declaring a trigger runs none of its past times). A trigger declared again
 * with another cron is seen anew.
 */
export const scheduledWorkflowArmed = defineEvent(
  'schedule.workflow.arm',
  z.object({ projectId: z.string(), projectSlug: z.string(), workflow: z.string(), index: z.number().int(), cron: z.string(), from: z.string() }),
  { publicFields: ['projectId', 'projectSlug', 'workflow', 'index', 'cron', 'from'] },
);
export type ScheduledWorkflowEvent = EventOf<typeof scheduledWorkflowTriggered> | EventOf<typeof scheduledWorkflowArmed>;
export type ScheduledWorkflowCommand =
  | { type: 'fire'; projectId: string; projectSlug: string; schedule: ScheduledWorkflow; slot: string }
  | { type: 'arm'; projectId: string; projectSlug: string; schedule: ScheduledWorkflow; from: string };
/** By `scheduledWorkflowKey`: the last slot fired of each trigger, and the cron each was seen with. */
export interface ScheduledWorkflowsState {
  readonly fired: ReadonlyMap<string, string>;
  readonly armed: ReadonlyMap<string, string>;
}

export const scheduledWorkflowsDecider: Decider<ScheduledWorkflowsState, ScheduledWorkflowCommand, ScheduledWorkflowEvent> = {
  initialState: () => ({ fired: new Map(), armed: new Map() }),
  evolve: (s, e) =>
    e.type === 'schedule.workflow.arm'
      ? { ...s, armed: new Map(s.armed).set(scheduledWorkflowKey(e.data), e.data.cron) }
      : { ...s, fired: new Map(s.fired).set(scheduledWorkflowKey(e.data), e.data.slot) },
  decide: (c, s) => {
    const { workflow, index, cron, branches } = c.schedule;
    if (c.type === 'arm') {
      // servers seeing it together: the first one's time stands
      if (s.armed.get(scheduledWorkflowKey(c.schedule)) === cron) return [];
      return [{ type: 'schedule.workflow.arm', data: { projectId: c.projectId, projectSlug: c.projectSlug, workflow, index, cron, from: c.from } }];
    }
    const last = s.fired.get(scheduledWorkflowKey(c.schedule));
    if (last !== undefined && c.slot <= last) return [];
    return [
      {
        type: 'schedule.workflow.trigger',
        data: { projectId: c.projectId, projectSlug: c.projectSlug, workflow, index, cron, branches: [...branches], slot: c.slot },
      },
    ];
  },
};
