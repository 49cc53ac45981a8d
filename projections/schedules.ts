import type { Knex } from 'knex';
import { scheduledWorkflowsOf, type ScheduledWorkflowEvent } from '../domain/schedules/scheduled-workflows.ts';
import type { ScheduleActor, ScheduleEvent, ScheduleParameters } from '../domain/schedules/schedule.ts';
import type { Timetable } from '../domain/schedules/timetable.ts';
import type { ProcessedConfig } from '../domain/config/process.ts';
import type { PipelineEvent } from '../domain/pipelines/pipeline.ts';
import { defineProjection, isoTime } from './projection.ts';
import { projectsProjection } from './projects.ts';

/**
 * Scheduled pipelines (API v2 schedules), and each project's legacy scheduled workflows: those of the
 * latest pipeline on each branch whose config processed (the worker runs the default branch's).
 */
export const schedulesProjection = defineProjection({
  name: 'schedules',
  // v2: armed_from, when the schedules worker first saw a legacy trigger (by its clock)
  version: 2,
  handles: [{ prefix: 'schedule.' }, { exact: 'pipeline.create' }],
  tables: ['schedules', 'scheduled_workflows'],
  async migrate(db, t) {
    await db.raw(`create table if not exists ${t.schedules} (
      id text primary key, project_id text not null, project_slug text not null, name text not null, description text not null,
      attribution_actor text not null, actor jsonb not null, parameters jsonb not null, timetable jsonb not null, active_from text not null, last_slot text,
      created_at timestamptz not null, updated_at timestamptz not null)`);
    await db.raw(`create index if not exists ${t.schedules}_project on ${t.schedules} (project_id, created_at, id)`);
    await db.raw(`create table if not exists ${t.scheduled_workflows} (
      project_id text not null, branch text not null, workflow text not null, idx int not null, cron text not null, branches jsonb not null,
      declared_at timestamptz not null, armed_from text, last_slot text, primary key (project_id, branch, workflow, idx))`);
  },
  async apply(events, trx, t) {
    for (const recorded of events) {
      if (!recorded.metadata.success) continue;
      const at = recorded.occurredAt;
      const e = recorded as unknown as ScheduleEvent | ScheduledWorkflowEvent | PipelineEvent;
      switch (e.type) {
        case 'schedule.create': {
          const d = e.data;
          await trx(t.schedules).insert({
            id: d.scheduleId,
            project_id: d.projectId,
            project_slug: d.projectSlug,
            name: d.name,
            description: d.description,
            attribution_actor: d.attributionActor,
            actor: JSON.stringify(d.actor),
            parameters: JSON.stringify(d.parameters),
            timetable: JSON.stringify(d.timetable),
            active_from: d.activeFrom,
            created_at: at,
            updated_at: at,
          });
          break;
        }
        case 'schedule.update': {
          const d = e.data;
          await trx(t.schedules)
            .where({ id: d.scheduleId })
            .update({
              name: d.name,
              description: d.description,
              attribution_actor: d.attributionActor,
              actor: JSON.stringify(d.actor),
              parameters: JSON.stringify(d.parameters),
              timetable: JSON.stringify(d.timetable),
              active_from: d.activeFrom,
              updated_at: at,
            });
          break;
        }
        case 'schedule.delete':
          await trx(t.schedules).where({ id: e.data.scheduleId }).delete();
          break;
        case 'schedule.trigger':
          await trx(t.schedules).where({ id: e.data.scheduleId }).update({ last_slot: e.data.slot });
          break;
        case 'schedule.workflow.trigger':
          await trx(t.scheduled_workflows)
            .where({ project_id: e.data.projectId, workflow: e.data.workflow, idx: e.data.index })
            .update({ last_slot: e.data.slot });
          break;
        case 'schedule.workflow.arm':
          await trx(t.scheduled_workflows)
            .where({ project_id: e.data.projectId, workflow: e.data.workflow, idx: e.data.index, cron: e.data.cron })
            .update({ armed_from: e.data.from });
          break;
        case 'pipeline.create': {
          const d = e.data;
          // a config that did not process leaves the branch's schedules as the last good config declared them
          if (d.vcs.branch === null || d.config === null) break;
          const declared = scheduledWorkflowsOf(JSON.parse(d.config) as ProcessedConfig).schedules;
          const before = (await trx(t.scheduled_workflows).where({ project_id: d.projectId, branch: d.vcs.branch })) as Array<Record<string, unknown>>;
          await trx(t.scheduled_workflows).where({ project_id: d.projectId, branch: d.vcs.branch }).delete();
          for (const s of declared) {
            // a trigger the config keeps as it was keeps when it was declared and seen, and its last run
            const same = before.find((b) => b.workflow === s.workflow && Number(b.idx) === s.index && b.cron === s.cron);
            await trx(t.scheduled_workflows).insert({
              project_id: d.projectId,
              branch: d.vcs.branch,
              workflow: s.workflow,
              idx: s.index,
              cron: s.cron,
              branches: JSON.stringify(s.branches),
              declared_at: same ? same.declared_at : at,
              armed_from: same ? same.armed_from : null,
              last_slot: same ? same.last_slot : null,
            });
          }
          break;
        }
      }
    }
  },
});

const { schedules, scheduled_workflows } = schedulesProjection.tables;
const json = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);

export interface ScheduleRow {
  readonly id: string;
  readonly projectId: string;
  readonly projectSlug: string;
  readonly name: string;
  readonly description: string;
  readonly attributionActor: 'current' | 'system';
  readonly actor: ScheduleActor;
  readonly parameters: ScheduleParameters;
  readonly timetable: Timetable;
  readonly activeFrom: string;
  readonly lastSlot: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}
const toSchedule = (r: Record<string, unknown>): ScheduleRow => ({
  id: r.id as string,
  projectId: r.project_id as string,
  projectSlug: r.project_slug as string,
  name: r.name as string,
  description: r.description as string,
  attributionActor: r.attribution_actor as 'current' | 'system',
  actor: json(r.actor),
  parameters: json(r.parameters),
  timetable: json(r.timetable),
  activeFrom: r.active_from as string,
  lastSlot: (r.last_slot as string | null) ?? null,
  createdAt: isoTime(r.created_at),
  updatedAt: isoTime(r.updated_at),
});

export const scheduleById = async (db: Knex, id: string): Promise<ScheduleRow | undefined> => {
  const r = await db(schedules).where({ id }).first();
  return r ? toSchedule(r) : undefined;
};

/** A project's schedules, oldest first; `after`: the last id of the page before. */
export const schedulesPage = async (
  db: Knex,
  projectId: string,
  first: number,
  after?: string,
): Promise<{ schedules: ScheduleRow[]; hasNextPage: boolean }> => {
  const q = db(schedules)
    .where({ project_id: projectId })
    .orderBy('id')
    .limit(first + 1);
  if (after) q.where('id', '>', after);
  const rows = (await q) as Array<Record<string, unknown>>;
  return { schedules: rows.slice(0, first).map(toSchedule), hasNextPage: rows.length > first };
};

/** Every project's schedules, a page at a time by id: what the worker looks through. */
export const allSchedules = async (db: Knex, first: number, after?: string): Promise<ScheduleRow[]> => {
  const q = db(schedules).orderBy('id').limit(first);
  if (after) q.where('id', '>', after);
  return ((await q) as Array<Record<string, unknown>>).map(toSchedule);
};

export interface ScheduledWorkflowRow {
  readonly projectId: string;
  readonly projectSlug: string;
  readonly workflow: string;
  readonly index: number;
  readonly cron: string;
  readonly branches: string[];
  readonly declaredAt: string;
  /** When the schedules worker first saw it, by its clock (null until it has): no cron time before runs. */
  readonly armedFrom: string | null;
  readonly lastSlot: string | null;
}

/** The legacy scheduled workflows that run: those the config on each project's default branch declares. */
export const scheduledWorkflowsInForce = async (db: Knex): Promise<ScheduledWorkflowRow[]> => {
  const projects = projectsProjection.tables.projects;
  const rows = (await db(`${scheduled_workflows} as s`)
    .join(`${projects} as p`, 'p.id', 's.project_id')
    .whereRaw(`s.branch = p.settings->>'defaultBranch'`)
    .orderBy(['s.project_id', 's.workflow', 's.idx'])
    .select('s.*', 'p.slug as project_slug')) as Array<Record<string, unknown>>;
  return rows.map((r) => ({
    projectId: r.project_id as string,
    projectSlug: r.project_slug as string,
    workflow: r.workflow as string,
    index: Number(r.idx),
    cron: r.cron as string,
    branches: json(r.branches),
    declaredAt: isoTime(r.declared_at),
    armedFrom: (r.armed_from as string | null) ?? null,
    lastSlot: (r.last_slot as string | null) ?? null,
  }));
};
