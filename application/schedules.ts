import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { GitError } from '../adapters/git/port.ts';
import { ForbiddenError, GyreError, NotFoundError, ValidationError, parseInput } from '../domain/errors.ts';
import { systemActor, type CommandContext, type RecordedEvent } from '../domain/events/envelope.ts';
import { parseUuid, uuidFrom } from '../domain/ids.ts';
import { orgOf, type Member } from '../domain/organizations.ts';
import { ownerSlugOf } from '../domain/projects/slugs.ts';
import {
  AttributionActor,
  ScheduleDescription,
  ScheduleName,
  ScheduleParameters,
  scheduleDecider,
  scheduledActor,
  scheduleStream,
  scheduleTarget,
  type ScheduleActor,
  type ScheduleCommand,
  type ScheduleEvent,
} from '../domain/schedules/schedule.ts';
import {
  scheduledWorkflowsDecider,
  scheduledWorkflowsStream,
  scheduledWorkflowsTarget,
  type ScheduledWorkflowCommand,
  type ScheduledWorkflowEvent,
} from '../domain/schedules/scheduled-workflows.ts';
import { Timetable, latestCronSlot, latestSlot } from '../domain/schedules/timetable.ts';
import { pipelineByDelivery } from '../projections/pipelines.ts';
import { projectFollow } from '../projections/project-follows.ts';
import { allSchedules, scheduleById, scheduledWorkflowsInForce, schedulesPage, type ScheduleRow } from '../projections/schedules.ts';
import { memberByLogin } from './members.ts';
import { triggerPipeline, type PipelineDeps } from './pipelines.ts';
import { findProject } from './projects.ts';
import { written } from './read-your-writes.ts';
import type { Logger, UseCases } from './dependencies.ts';
import { executeAndWait } from './execute-and-wait.ts';

/**
 * Scheduled pipelines (CircleCI's API v2 schedules) and legacy scheduled workflows: the API changes
 * schedules; the schedules worker (workers/schedules.ts) decides the runs that are due with
 * `fireDueSchedules`; a reactor starts each run's pipeline with `startScheduledRun`.
 */

/** Who the API shows as a schedule's actor, and whose runs `current` attribution makes them. */
export type ScheduleUser = ScheduleActor;

const Definition = z
  .object({
    name: ScheduleName,
    description: ScheduleDescription.nullable().optional(),
    'attribution-actor': AttributionActor,
    parameters: ScheduleParameters,
    timetable: Timetable,
  })
  .strict();
const Changes = Definition.partial().strict();

const findSchedule = async (s: UseCases, id: unknown): Promise<ScheduleRow> => {
  const schedule = await scheduleById(s.db, parseUuid(id, 'the schedule id'));
  if (!schedule)
    throw new NotFoundError("schedule not found: list a project's schedules with GET /api/v2/project/{project-slug}/schedule", 'SCHEDULE_NOT_FOUND');
  return schedule;
};

const run = async (s: UseCases, context: CommandContext, target: { scheduleId: string; name: string }, command: ScheduleCommand) => {
  await executeAndWait(s, {
    stream: scheduleStream(target.scheduleId),
    decider: scheduleDecider,
    command,
    context,
    target: (state) => scheduleTarget(state ?? target),
  });
};

/** `now`: the schedules' clock (slots before a schedule is created or updated never run). */
export const createSchedule = async (
  s: UseCases,
  context: CommandContext,
  by: Member,
  user: ScheduleUser,
  now: Date,
  rawSlug: unknown,
  input: unknown,
): Promise<ScheduleRow> => {
  const project = await findProject(s, rawSlug);
  const d = parseInput(Definition, input ?? {}, 'schedule');
  const scheduleId = randomUUID();
  await run(
    s,
    context,
    { scheduleId, name: d.name },
    {
      type: 'create',
      scheduleId,
      project: { id: project.id, slug: project.slug },
      definition: {
        name: d.name,
        description: d.description ?? '',
        attributionActor: d['attribution-actor'],
        parameters: d.parameters,
        timetable: d.timetable,
      },
      by,
      actor: user,
      at: now.toISOString(),
    },
  );
  return written(await scheduleById(s.db, scheduleId));
};

export const updateSchedule = async (
  s: UseCases,
  context: CommandContext,
  by: Member,
  user: ScheduleUser,
  now: Date,
  id: unknown,
  input: unknown,
): Promise<ScheduleRow> => {
  const schedule = await findSchedule(s, id);
  const c = parseInput(Changes, input ?? {}, 'schedule');
  if (Object.keys(c).length === 0)
    throw new ValidationError('nothing to update: give one or more of name, description, attribution-actor, parameters, timetable');
  const changes = {
    ...(c.name !== undefined ? { name: c.name } : {}),
    ...(c.description !== undefined ? { description: c.description ?? '' } : {}),
    ...(c['attribution-actor'] !== undefined ? { attributionActor: c['attribution-actor'] } : {}),
    ...(c.parameters !== undefined ? { parameters: c.parameters } : {}),
    ...(c.timetable !== undefined ? { timetable: c.timetable } : {}),
  };
  await run(
    s,
    context,
    { scheduleId: schedule.id, name: schedule.name },
    { type: 'update', scheduleId: schedule.id, changes, by, actor: user, at: now.toISOString() },
  );
  return written(await scheduleById(s.db, schedule.id));
};

export const deleteSchedule = async (s: UseCases, context: CommandContext, by: Member, id: unknown): Promise<void> => {
  const schedule = await findSchedule(s, id);
  await run(s, context, { scheduleId: schedule.id, name: schedule.name }, { type: 'delete', scheduleId: schedule.id, by });
};

/** Reading a schedule needs membership of its project's organization, as changing it does. */
export const readSchedule = async (s: UseCases, by: Member, id: unknown): Promise<ScheduleRow> => {
  const schedule = await findSchedule(s, id);
  requireReader(by, schedule.projectSlug);
  return schedule;
};
export const listSchedules = async (s: UseCases, by: Member, rawSlug: unknown, first: number, after?: string) => {
  const project = await findProject(s, rawSlug);
  requireReader(by, project.slug, `${by.login} is not a member of the organization of ${project.slug}: only its members and admins see its schedules`);
  return schedulesPage(s.db, project.id, first, after);
};
/** The same rule as changes, so that a schedule's parameters are seen only by those who may change it; to others a schedule is not there. */
const requireReader = (by: Member, projectSlug: string, refusal?: string) => {
  if (by.isAdmin || by.orgs.some((o) => o.toLowerCase() === orgOf(ownerSlugOf(projectSlug)))) return;
  if (refusal) throw new ForbiddenError(refusal, 'NOT_ORG_MEMBER');
  throw new NotFoundError("schedule not found: list a project's schedules with GET /api/v2/project/{project-slug}/schedule", 'SCHEDULE_NOT_FOUND');
};

const workerContext: CommandContext = { actor: systemActor, request: null };

/**
 * Decides every run that is due at `now`: for each schedule (and each legacy scheduled workflow in
 * force), the latest slot after its last run and after it was created or updated (for a legacy
 * trigger: after the worker first saw it declared, by `now`, which this records); missed
 * slots before that one are not run. Deciding appends on the schedule's stream at the revision read,
 * and the decider refuses a slot not after the last one fired, so servers ticking together fire a
 * slot once. Returns how many runs this call decided.
 */
export const fireDueSchedules = async (s: UseCases & { log: Logger }, now: Date): Promise<number> => {
  let fired = 0;
  let after: string | undefined;
  for (;;) {
    const page = await allSchedules(s.db, 100, after);
    for (const schedule of page) {
      // an unfollowed project's schedules wait: following it again runs them from the latest slot
      if (!(await projectFollow(s.db, schedule.projectId)).followed) continue;
      const from = new Date(schedule.lastSlot && schedule.lastSlot > schedule.activeFrom ? schedule.lastSlot : schedule.activeFrom);
      const slot = latestSlot(schedule.timetable, from, now);
      if (!slot) continue;
      try {
        const r = await s.commands.execute({
          stream: scheduleStream(schedule.id),
          decider: scheduleDecider,
          command: { type: 'fire', scheduleId: schedule.id, slot: slot.toISOString() },
          context: { ...workerContext, correlationId: schedule.id },
          target: scheduleTarget({ scheduleId: schedule.id, name: schedule.name }),
          maxAttempts: 20,
        });
        fired += r.events.length;
      } catch (err) {
        s.log.warn({ err, scheduleId: schedule.id }, 'could not decide a scheduled run; the next tick tries again');
      }
    }
    if (page.length < 100) break;
    after = page[page.length - 1]!.id;
  }
  for (const w of await scheduledWorkflowsInForce(s.db)) {
    if (!(await projectFollow(s.db, w.projectId)).followed) continue;
    // a trigger's cron times count from when this clock first saw it declared (never the database's time)
    const from = w.armedFrom === null ? null : new Date(w.lastSlot && w.lastSlot > w.armedFrom ? w.lastSlot : w.armedFrom);
    const slot = from === null ? null : latestCronSlot(w.cron, from, now);
    if (from !== null && !slot) continue;
    const command: ScheduledWorkflowCommand = slot
      ? { type: 'fire', projectId: w.projectId, projectSlug: w.projectSlug, schedule: w, slot: slot.toISOString() }
      : { type: 'arm', projectId: w.projectId, projectSlug: w.projectSlug, schedule: w, from: now.toISOString() };
    try {
      const r = await s.commands.execute({
        stream: scheduledWorkflowsStream(w.projectId),
        decider: scheduledWorkflowsDecider,
        command,
        context: { ...workerContext, correlationId: w.projectId },
        target: scheduledWorkflowsTarget(w),
        maxAttempts: 20,
      });
      if (slot) fired += r.events.length;
    } catch (err) {
      s.log.warn({ err, projectId: w.projectId, workflow: w.workflow }, 'could not decide a scheduled workflow run; the next tick tries again');
    }
  }
  return fired;
};

/**
 * Who a scheduled run is for. `current`: the person who last created or updated the schedule, with
 * their organizations and teams as now known. `system` (and legacy scheduled workflows): Gyre's
 * scheduler, a member of the project's organization in no team, so its jobs may use the
 * organization's unrestricted contexts and never a restricted one.
 */
const runsFor = async (s: UseCases, projectSlug: string, actor: string): Promise<Member> =>
  actor === scheduledActor ? { login: scheduledActor, isAdmin: false, orgs: [orgOf(ownerSlugOf(projectSlug))], teams: [] } : memberByLogin(s, actor);

/** How long a run waits for its repository to become readable again before it is given up. */
export const unreadableRepositoryGiveUpMs = 6 * 60 * 60_000;

/**
 * A run that cannot start for a reason retrying will not mend (its branch is gone, its project
 * deleted) is given up with a warning, so that it does not hold up the runs after it. Git not
 * reaching or reading the repository (a host down or timing out) and anything else (the database)
 * is thrown, and the reactor retries, so a brief outage at a slot delays its run and loses none; a
 * repository still unreadable `unreadableRepositoryGiveUpMs` after the run was decided (by the log's
 * clock, as the event's time) is given up.
 */
const given = async (s: { log: Logger }, event: RecordedEvent, started: Promise<unknown>) => {
  try {
    await started;
  } catch (err) {
    const unreadable = err instanceof GitError && err.reason === 'unavailable';
    const retry = unreadable ? Date.now() - Date.parse(event.occurredAt) < unreadableRepositoryGiveUpMs : !(err instanceof GyreError) || err.status >= 500;
    if (retry) throw err;
    s.log.warn({ err, event: event.id, type: event.type }, 'a scheduled run could not start its pipeline; it is skipped');
  }
};

/**
 * Starts the pipelines of a run decided (`schedule.trigger`, `schedule.workflow.trigger`): one per
 * branch, each with a delivery id derived from the event and the branch, so a run reacted to again
 * (a crash before the reactor's checkpoint moved) finds its pipeline and starts no second one.
 */
export const startScheduledRun = async (s: PipelineDeps & { log: Logger; waitForReadModels(): Promise<void> }, event: RecordedEvent): Promise<void> => {
  const e = event as unknown as ScheduleEvent | ScheduledWorkflowEvent;
  const context: CommandContext = { actor: event.metadata.actor, request: null, causationId: event.id };
  await s.waitForReadModels();
  if (e.type !== 'schedule.trigger' && e.type !== 'schedule.workflow.trigger') return;
  // a run decided before its project was unfollowed starts nothing, as a webhook delivery to it would not
  if (!(await projectFollow(s.db, e.data.projectId)).followed) {
    s.log.warn({ event: event.id, type: event.type, project: e.data.projectSlug }, 'a scheduled run of an unfollowed project is skipped');
    return;
  }
  if (e.type === 'schedule.trigger') {
    const { branch, tag, ...parameters } = e.data.parameters;
    const deliveryId = uuidFrom(`${event.id}\nschedule`);
    if (await pipelineByDelivery(s.db, deliveryId)) return;
    await given(
      s,
      event,
      triggerPipeline(
        s,
        { ...context, actor: { id: e.data.scheduleId, type: 'schedule', name: e.data.name } },
        await runsFor(s, e.data.projectSlug, e.data.actor),
        {
          slug: e.data.projectSlug,
          ...(typeof tag === 'string' ? { tag } : { branch }),
          parameters,
          type: 'schedule',
          deliveryId,
          schedule: { id: e.data.scheduleId, name: e.data.name, workflows: null },
        },
      ),
    );
    return;
  }
  const member = await runsFor(s, e.data.projectSlug, scheduledActor);
  for (const branch of e.data.branches) {
    const deliveryId = uuidFrom(`${event.id}\n${branch}`);
    if (await pipelineByDelivery(s.db, deliveryId)) continue;
    await given(
      s,
      event,
      triggerPipeline(s, { ...context, actor: systemActor }, member, {
        slug: e.data.projectSlug,
        branch,
        type: 'schedule',
        deliveryId,
        schedule: { id: uuidFrom(`${e.data.projectId}\n${e.data.workflow}\n${e.data.index}`), name: e.data.workflow, workflows: [e.data.workflow] },
      }),
    );
  }
};
