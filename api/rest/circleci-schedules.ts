import type { FastifyInstance, FastifyRequest } from 'fastify';
import { memberOf } from '../../application/members.ts';
import { createSchedule, deleteSchedule, listSchedules, readSchedule, updateSchedule } from '../../application/schedules.ts';
import { ValidationError } from '../../domain/errors.ts';
import type { ScheduleRow } from '../../projections/schedules.ts';
import { signedInUser } from '../auth/signed-in.ts';
import { requestCommandContext } from '../request-context.ts';
import type { Services } from '../services.ts';
import { nextPageToken, pageSize, pageTokenCursor } from './circleci-paging.ts';

type Params = { vcs?: string; org?: string; repo?: string; slug?: string; id?: string };
const slugOf = (req: FastifyRequest) => {
  const p = req.params as Params;
  return p.slug ?? `${p.vcs}/${p.org}/${p.repo}`;
};
const both = (rest: string) => [`/api/v2/project/:vcs/:org/:repo${rest}`, `/api/v2/project/:slug${rest}`];

/** CircleCI's Schedule (its API v2 names these fields in kebab-case). */
export const scheduleJson = (s: ScheduleRow) => ({
  id: s.id,
  name: s.name,
  description: s.description,
  'project-slug': s.projectSlug,
  timetable: s.timetable,
  actor: s.actor,
  parameters: s.parameters,
  'attribution-actor': s.attributionActor,
  'created-at': s.createdAt,
  'updated-at': s.updatedAt,
});

/** The signed-in user acting (refused 401 before anything else is read), as a schedule's actor shows them. */
const caller = (req: FastifyRequest) => {
  const u = signedInUser(req.auth);
  return { id: u.id, login: u.login, name: u.name };
};

/**
 * CircleCI API v2 scheduled pipelines: `GET|POST /project/{project-slug}/schedule`,
 * `GET|PATCH|DELETE /schedule/{schedule-id}`. `now`: the schedules' clock (slots before a schedule is
 * created or updated never run).
 */
export const registerCircleCiSchedules = (app: FastifyInstance, s: Services, now: () => number) => {
  for (const path of both('/schedule')) {
    app.post(path, async (req, reply) => {
      const user = caller(req);
      const schedule = await createSchedule(s, requestCommandContext(req), await memberOf(s, req.auth), user, new Date(now()), slugOf(req), req.body);
      return reply.status(201).send(scheduleJson(schedule));
    });
    app.get(path, async (req) => {
      caller(req);
      const cursor = pageTokenCursor((req.query as Record<string, string | undefined>)['page-token']);
      if (cursor !== undefined && !/^[0-9a-f-]{36}$/.test(cursor)) throw new ValidationError('page-token is not a token this API gave out');
      const page = await listSchedules(s, await memberOf(s, req.auth), slugOf(req), pageSize, cursor);
      return { items: page.schedules.map(scheduleJson), next_page_token: nextPageToken(page.hasNextPage, page.schedules[page.schedules.length - 1]?.id) };
    });
  }
  app.get('/api/v2/schedule/:id', async (req) => {
    caller(req);
    return scheduleJson(await readSchedule(s, await memberOf(s, req.auth), (req.params as Params).id));
  });
  app.patch('/api/v2/schedule/:id', async (req) => {
    const user = caller(req);
    return scheduleJson(
      await updateSchedule(s, requestCommandContext(req), await memberOf(s, req.auth), user, new Date(now()), (req.params as Params).id, req.body),
    );
  });
  app.delete('/api/v2/schedule/:id', async (req) => {
    caller(req);
    await deleteSchedule(s, requestCommandContext(req), await memberOf(s, req.auth), (req.params as Params).id);
    return { message: 'Schedule deleted.' };
  });
};
