import { z } from 'zod';
import { NotFoundError } from '../errors.ts';
import { defineEvent, type EventOf } from '../events/registry.ts';
import { requireOrgMember, type Member } from '../organizations.ts';
import { ownerSlugOf } from '../projects/slugs.ts';
import type { Decider } from '../decider.ts';
import { Timetable } from './timetable.ts';

/**
 * A scheduled pipeline (CircleCI's API v2 schedule), one stream per schedule. Its runs are decided
 * here too: `fire` appends `schedule.trigger` for a slot only when the slot is after the last one
 * fired, so two servers deciding the same slot (optimistic concurrency on this stream) fire it once;
 * the pipeline is then started by a reactor from that event.
 */
export const scheduleStream = (scheduleId: string) => `schedule-${scheduleId}`;
export const scheduleTarget = (s: { scheduleId: string; name: string }) => ({ id: s.scheduleId, type: 'schedule', name: s.name });

export const ScheduleName = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');
export const ScheduleDescription = z.string().max(1000, 'must be at most 1000 characters');
/** `current`: runs are the last creator's or updater's; `system`: Gyre's own scheduler's (see `scheduledActor`). */
export const AttributionActor = z.enum(['current', 'system']);
/** A schedule's pipeline parameters: `branch` or `tag` (which to build), and the config's own parameters. */
export const ScheduleParameters = z
  .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
  .refine((p) => (typeof p.branch === 'string') !== (typeof p.tag === 'string'), 'must hold a branch or a tag (a string), not both')
  .refine((p) => !('branch' in p) || typeof p.branch === 'string', { message: 'must be a string', path: ['branch'] })
  .refine((p) => !('tag' in p) || typeof p.tag === 'string', { message: 'must be a string', path: ['tag'] });
export type ScheduleParameters = z.infer<typeof ScheduleParameters>;
const Actor = z.object({ id: z.string(), login: z.string(), name: z.string() });
export type ScheduleActor = z.infer<typeof Actor>;

const Definition = {
  name: z.string(),
  description: z.string(),
  attributionActor: AttributionActor,
  parameters: ScheduleParameters,
  timetable: Timetable,
  /** Who created or last updated it: the actor of its runs when attribution is `current`. */
  actor: Actor,
  /** When it was created or last updated (the schedules' clock): slots before it are never run. */
  activeFrom: z.string(),
};
const ref = { scheduleId: z.string(), projectId: z.string(), projectSlug: z.string() };
const shown = ['scheduleId', 'projectId', 'projectSlug', 'name', 'description', 'attributionActor', 'parameters', 'timetable', 'actor', 'activeFrom'] as const;
export const scheduleCreated = defineEvent('schedule.create', z.object({ ...ref, ...Definition }), { publicFields: [...shown] });
export const scheduleUpdated = defineEvent('schedule.update', z.object({ ...ref, ...Definition }), { publicFields: [...shown] });
export const scheduleDeleted = defineEvent('schedule.delete', z.object({ ...ref, name: z.string() }), {
  publicFields: ['scheduleId', 'projectId', 'projectSlug', 'name'],
});
/** A run decided: `slot` is the timetable's time it is for; `actor` the login the pipeline runs as. */
export const scheduleTriggered = defineEvent(
  'schedule.trigger',
  z.object({ ...ref, name: z.string(), slot: z.string(), attributionActor: AttributionActor, actor: z.string(), parameters: ScheduleParameters }),
  { publicFields: ['scheduleId', 'projectId', 'projectSlug', 'name', 'slot', 'attributionActor', 'actor', 'parameters'] },
);
export const scheduleEvents = [scheduleCreated, scheduleUpdated, scheduleDeleted, scheduleTriggered];

export type ScheduleEvent =
  | EventOf<typeof scheduleCreated>
  | EventOf<typeof scheduleUpdated>
  | EventOf<typeof scheduleDeleted>
  | EventOf<typeof scheduleTriggered>;

type Definition = { name: string; description: string; attributionActor: 'current' | 'system'; parameters: ScheduleParameters; timetable: Timetable };
/** `by`: who asks (an organization member of the project); `actor`: their account as the API shows it; `at`: the schedules' clock. */
export type ScheduleCommand =
  | { type: 'create'; scheduleId: string; project: { id: string; slug: string }; definition: Definition; by: Member; actor: ScheduleActor; at: string }
  | { type: 'update'; scheduleId: string; changes: Partial<Definition>; by: Member; actor: ScheduleActor; at: string }
  | { type: 'delete'; scheduleId: string; by: Member }
  /** `slot`: the latest due slot, as the worker computed it from the timetable. */
  | { type: 'fire'; scheduleId: string; slot: string };

export interface Schedule extends Definition {
  readonly scheduleId: string;
  readonly projectId: string;
  readonly projectSlug: string;
  readonly actor: ScheduleActor;
  readonly activeFrom: string;
  /** The last slot fired; null before the first run. */
  readonly lastSlot: string | null;
}
/** null: never created, or deleted. */
export type ScheduleState = Schedule | null;

/** The login a system-attributed run is recorded under: Gyre's scheduler, not a person (GitHub logins never hold brackets). */
export const scheduledActor = 'gyre-scheduler[bot]';

const live = (s: ScheduleState, scheduleId: string): Schedule => {
  if (!s || s.scheduleId !== scheduleId)
    throw new NotFoundError("no such schedule: list a project's schedules with GET /api/v2/project/{project-slug}/schedule", 'SCHEDULE_NOT_FOUND');
  return s;
};
const refOf = (s: Schedule) => ({ scheduleId: s.scheduleId, projectId: s.projectId, projectSlug: s.projectSlug });
const definitionOf = (s: Schedule) => ({
  name: s.name,
  description: s.description,
  attributionActor: s.attributionActor,
  parameters: s.parameters,
  timetable: s.timetable,
  actor: s.actor,
  activeFrom: s.activeFrom,
});

export const scheduleDecider: Decider<ScheduleState, ScheduleCommand, ScheduleEvent> = {
  initialState: () => null,
  evolve: (s, e) => {
    if (e.type === 'schedule.create') return { ...e.data, lastSlot: null };
    if (!s || s.scheduleId !== e.data.scheduleId) return s;
    switch (e.type) {
      case 'schedule.update':
        return { ...s, ...e.data };
      case 'schedule.delete':
        return null;
      case 'schedule.trigger':
        return { ...s, lastSlot: e.data.slot };
    }
  },
  decide: (c, s) => {
    switch (c.type) {
      case 'create':
        requireOrgMember(c.by, ownerSlugOf(c.project.slug));
        if (s) throw new Error(`schedule ${c.scheduleId} exists: a new schedule takes a new id`);
        return [
          {
            type: 'schedule.create',
            data: { scheduleId: c.scheduleId, projectId: c.project.id, projectSlug: c.project.slug, ...c.definition, actor: c.actor, activeFrom: c.at },
          },
        ];
      case 'update': {
        const schedule = live(s, c.scheduleId);
        requireOrgMember(c.by, ownerSlugOf(schedule.projectSlug));
        // slots before the update were the old timetable's: the new one runs from now on
        return [{ type: 'schedule.update', data: { ...refOf(schedule), ...definitionOf(schedule), ...c.changes, actor: c.actor, activeFrom: c.at } }];
      }
      case 'delete': {
        const schedule = live(s, c.scheduleId);
        requireOrgMember(c.by, ownerSlugOf(schedule.projectSlug));
        return [{ type: 'schedule.delete', data: { ...refOf(schedule), name: schedule.name } }];
      }
      case 'fire': {
        // a schedule deleted, or a slot fired already (by this server or another): nothing to do
        if (!s || s.scheduleId !== c.scheduleId) return [];
        if (c.slot <= s.activeFrom || (s.lastSlot !== null && c.slot <= s.lastSlot)) return [];
        return [
          {
            type: 'schedule.trigger',
            data: {
              ...refOf(s),
              name: s.name,
              slot: c.slot,
              attributionActor: s.attributionActor,
              actor: s.attributionActor === 'current' ? s.actor.login : scheduledActor,
              parameters: s.parameters,
            },
          },
        ];
      }
    }
  },
};
