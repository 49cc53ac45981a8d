import type { FastifyInstance, FastifyRequest } from 'fastify';
import { NotFoundError, ValidationError } from '../../domain/errors.ts';
import { parseUuid } from '../../domain/ids.ts';
import { jobRunById, tasksOfJob } from '../../projections/jobs.ts';
import {
  jobByNumber,
  jobsOfWorkflowPage,
  pipelineById,
  pipelineByNumber,
  pipelinesFeed,
  pipelinesPage,
  type PipelineFilter,
  workflowById,
  workflowsOfPipeline,
  type JobRow,
  type PipelineRow,
  type WorkflowRow,
} from '../../projections/pipelines.ts';
import { memberOf } from '../../application/members.ts';
import { approveJob, cancelJob, cancelWorkflow, continuePipeline, rerunWorkflow, triggerPipeline } from '../../application/pipelines.ts';
import { findProject } from '../../application/projects.ts';
import { parseOrgSlug } from '../../domain/projects/slugs.ts';
import { triggerSource } from '../../domain/pipelines/pipeline.ts';
import { requestCommandContext } from '../request-context.ts';
import type { Services } from '../services.ts';
import { nextPageToken, pageSize, pageTokenCursor } from './circleci-paging.ts';

type Params = { vcs?: string; org?: string; repo?: string; slug?: string; id?: string; number?: string; approval_request_id?: string };
const slugOf = (req: FastifyRequest) => {
  const p = req.params as Params;
  return p.slug ?? `${p.vcs}/${p.org}/${p.repo}`;
};
const both = (rest: string) => [`/api/v2/project/:vcs/:org/:repo${rest}`, `/api/v2/project/:slug${rest}`];
const idOf = (req: FastifyRequest) => parseUuid((req.params as Params).id, 'the id in the path');

/** CircleCI's Pipeline. */
export const pipelineJson = (p: PipelineRow) => ({
  id: p.id,
  errors: p.errors,
  project_slug: p.projectSlug,
  updated_at: p.updatedAt,
  number: p.number,
  trigger_parameters: p.parameters,
  state: p.state,
  created_at: p.createdAt,
  trigger: {
    type: triggerSource(p.trigger.type),
    received_at: p.trigger.receivedAt,
    actor: { login: p.trigger.actor.login, avatar_url: p.trigger.actor.avatarUrl },
  },
  vcs: {
    provider_name: 'GitHub',
    origin_repository_url: p.vcs.originRepositoryUrl,
    target_repository_url: p.vcs.originRepositoryUrl,
    revision: p.vcs.revision,
    ...(p.vcs.branch ? { branch: p.vcs.branch } : {}),
    ...(p.vcs.tag ? { tag: p.vcs.tag } : {}),
    ...(p.vcs.commit ? { commit: p.vcs.commit } : {}),
    // a pull request's build: CircleCI's code review id and URL
    ...(p.vcs.pullRequest ? { review_id: String(p.vcs.pullRequest.number), review_url: p.vcs.pullRequest.url } : {}),
  },
});
/** CircleCI's Workflow. */
export const workflowJson = (w: WorkflowRow) => ({
  pipeline_id: w.pipelineId,
  id: w.id,
  name: w.name,
  project_slug: w.projectSlug,
  status: w.status,
  started_by: w.startedBy,
  pipeline_number: w.pipelineNumber,
  created_at: w.createdAt,
  stopped_at: w.stoppedAt,
  ...(w.tag ? { tag: w.tag } : {}),
});
/** An item of CircleCI's workflow job list. */
export const jobJson = (j: JobRow) => ({
  id: j.id,
  name: j.name,
  type: j.type,
  status: j.status,
  job_number: j.jobNumber ?? undefined,
  project_slug: j.projectSlug,
  started_at: j.startedAt,
  stopped_at: j.stoppedAt,
  dependencies: j.dependencies,
  ...(j.type === 'approval' ? { approval_request_id: j.id } : {}),
});

const found = <T>(row: T | undefined, what: string): T => {
  if (!row) throw new NotFoundError(`${what} not found`);
  return row;
};
const accepted = { message: 'Accepted.' };
const numberOf = (req: FastifyRequest, what: string) => {
  const n = Number((req.params as Params).number);
  if (!Number.isInteger(n) || n < 1) throw new ValidationError(`a ${what} number is a whole number from 1`);
  return n;
};
const query = (req: FastifyRequest) => req.query as Record<string, string | undefined>;
const isTrue = (v: string | undefined, name: string) => {
  if (v === undefined || v === 'false') return false;
  if (v === 'true') return true;
  throw new ValidationError(`${name} is true or false`);
};
/** A page of pipelines newest first, across projects; the page token holds the last one's `created_at|id`. */
const feedPage = async (s: Services, req: FastifyRequest, filter: PipelineFilter) => {
  const cursor = pageTokenCursor(query(req)['page-token']);
  const m = cursor === undefined ? undefined : /^(\d{4}-\d\d-\d\dT[\d:.]+Z)\|([0-9a-f-]{36})$/.exec(cursor);
  if (m === null) throw new ValidationError('page-token is not a token this API gave out');
  const page = await pipelinesFeed(s.db, filter, pageSize, m ? { createdAt: m[1]!, id: m[2]! } : undefined);
  const last = page.pipelines[page.pipelines.length - 1];
  return { items: page.pipelines.map(pipelineJson), next_page_token: nextPageToken(page.hasNextPage, last ? `${last.createdAt}|${last.id}` : undefined) };
};
const callerLogin = (req: FastifyRequest) => (req.auth.kind === 'user' ? req.auth.user.login : '');

/** CircleCI API v2 pipelines, workflows and jobs. */
export const registerCircleCiPipelines = (app: FastifyInstance, s: Services) => {
  for (const path of both('/pipeline')) {
    app.post(path, async (req, reply) => {
      const body = (req.body ?? {}) as { branch?: unknown; tag?: unknown; parameters?: unknown };
      const p = await triggerPipeline(s, requestCommandContext(req), await memberOf(s, req.auth), {
        slug: slugOf(req),
        branch: body.branch,
        tag: body.tag,
        parameters: body.parameters,
        type: 'api',
      });
      return reply.status(201).send({ id: p.id, number: p.number, state: p.state, created_at: p.createdAt });
    });
    app.get(path, async (req) => {
      const project = await findProject(s, slugOf(req));
      const cursor = pageTokenCursor((req.query as Record<string, string | undefined>)['page-token']);
      if (cursor !== undefined && !/^\d{1,9}$/.test(cursor)) throw new ValidationError('page-token is not a token this API gave out');
      const page = await pipelinesPage(s.db, project.id, pageSize, cursor === undefined ? undefined : Number(cursor));
      return {
        items: page.pipelines.map(pipelineJson),
        next_page_token: nextPageToken(page.hasNextPage, page.pipelines.length ? String(page.pipelines[page.pipelines.length - 1]!.number) : undefined),
      };
    });
  }
  for (const path of both('/pipeline/mine')) {
    app.get(path, async (req) => feedPage(s, req, { projectId: (await findProject(s, slugOf(req))).id, actor: callerLogin(req) }));
  }
  for (const path of both('/pipeline/:number')) {
    app.get(path, async (req) => {
      const project = await findProject(s, slugOf(req));
      const n = numberOf(req, 'pipeline');
      return pipelineJson(found(await pipelineByNumber(s.db, project.id, n), `pipeline ${n} of ${project.slug}`));
    });
  }
  app.get('/api/v2/pipeline', async (req) => {
    const org = query(req)['org-slug'];
    return feedPage(s, req, { ...(org ? { ownerSlug: parseOrgSlug(org).key } : {}), ...(isTrue(query(req).mine, 'mine') ? { actor: callerLogin(req) } : {}) });
  });
  for (const path of both('/job/:number/cancel')) {
    app.post(path, async (req, reply) => {
      await cancelJob(s, requestCommandContext(req), await memberOf(s, req.auth), slugOf(req), numberOf(req, 'job'));
      return reply.status(202).send(accepted);
    });
  }
  for (const path of both('/job/:number')) {
    app.get(path, async (req) => {
      const project = await findProject(s, slugOf(req));
      const n = Number((req.params as Params).number);
      if (!Number.isInteger(n) || n < 1) throw new ValidationError('a job number is a whole number from 1');
      const job = found(await jobByNumber(s.db, project.slug, n), `job ${n} of ${project.slug}`);
      const workflow = (await workflowById(s.db, job.workflowId))!;
      // how it runs is known once it is queued: before that (blocked, on hold) executor is null
      const run = await jobRunById(s.db, job.id);
      const tasks = run ? await tasksOfJob(s.db, run.jobId) : [];
      const startedAt = run?.startedAt ?? job.startedAt;
      const stoppedAt = run?.stoppedAt ?? job.stoppedAt;
      return {
        number: job.jobNumber,
        name: job.name,
        status: job.status,
        created_at: run?.queuedAt ?? workflow.createdAt,
        queued_at: run?.queuedAt ?? null,
        started_at: startedAt,
        stopped_at: stoppedAt,
        duration: startedAt && stoppedAt ? Date.parse(stoppedAt) - Date.parse(startedAt) : null,
        executor: run ? { type: run.spec.executor.type, resource_class: run.spec.resourceClass.name } : null,
        parallelism: run?.spec.parallelism ?? 1,
        parallel_runs: tasks.map((t) => ({ index: t.taskIndex, status: t.status })),
        project: { id: project.id, slug: project.slug, name: project.name, external_url: project.settings.gitUrl },
        pipeline: { id: workflow.pipelineId },
        latest_workflow: { id: workflow.id, name: workflow.name },
        contexts: (run?.spec.contexts ?? []).map((name) => ({ name })),
        organization: { name: project.organization },
        messages: [],
      };
    });
  }
  app.get('/api/v2/pipeline/:id', async (req) => pipelineJson(found(await pipelineById(s.db, idOf(req)), 'pipeline')));
  app.get('/api/v2/pipeline/:id/config', async (req) => {
    const p = found(await pipelineById(s.db, idOf(req)), 'pipeline');
    // setup workflows' configs stay empty until Gyre runs setup workflows
    return {
      source: p.configSource ?? '',
      compiled: p.configCompiled ?? '',
      'setup-config': p.setupConfigSource ?? '',
      'compiled-setup-config': p.setupConfigCompiled ?? '',
    };
  });
  app.get('/api/v2/pipeline/:id/workflow', async (req) => {
    const p = found(await pipelineById(s.db, idOf(req)), 'pipeline');
    return { items: (await workflowsOfPipeline(s.db, p.id)).map(workflowJson), next_page_token: null };
  });
  app.post('/api/v2/pipeline/continue', async (req) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    await continuePipeline(s, requestCommandContext(req), { key: body['continuation-key'], configuration: body.configuration, parameters: body.parameters });
    return { message: 'Continued.' };
  });
  app.get('/api/v2/workflow/:id', async (req) => workflowJson(found(await workflowById(s.db, idOf(req)), 'workflow')));
  app.get('/api/v2/workflow/:id/job', async (req) => {
    const w = found(await workflowById(s.db, idOf(req)), 'workflow');
    const cursor = pageTokenCursor(query(req)['page-token']);
    if (cursor !== undefined && !/^\d{1,9}$/.test(cursor)) throw new ValidationError('page-token is not a token this API gave out');
    const offset = cursor === undefined ? 0 : Number(cursor);
    const page = await jobsOfWorkflowPage(s.db, w.id, pageSize, offset);
    return { items: page.jobs.map(jobJson), next_page_token: nextPageToken(page.hasNextPage, String(offset + page.jobs.length)) };
  });
  app.post('/api/v2/workflow/:id/approve/:approval_request_id', async (req, reply) => {
    await approveJob(s, requestCommandContext(req), await memberOf(s, req.auth), idOf(req), (req.params as Params).approval_request_id);
    return reply.status(202).send(accepted);
  });
  app.post('/api/v2/workflow/:id/cancel', async (req, reply) => {
    await cancelWorkflow(s, requestCommandContext(req), await memberOf(s, req.auth), idOf(req));
    return reply.status(202).send(accepted);
  });
  app.post('/api/v2/workflow/:id/rerun', async (req, reply) => {
    const body = (req.body ?? {}) as { from_failed?: unknown };
    const w = await rerunWorkflow(s, requestCommandContext(req), await memberOf(s, req.auth), idOf(req), body.from_failed === true);
    return reply.status(202).send({ workflow_id: w.id });
  });
};
