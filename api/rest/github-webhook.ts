import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { CommandContext } from '../../domain/events/envelope.ts';
import { GyreError, UnauthorizedError, ValidationError } from '../../domain/errors.ts';
import { parseProjectSlug } from '../../domain/projects/slugs.ts';
import { memberByLogin } from '../../application/members.ts';
import { triggerPipeline } from '../../application/pipelines.ts';
import { findProject } from '../../application/projects.ts';
import { recordPullRequest } from '../../application/pull-requests.ts';
import { pipelineByDelivery, webhookPipelineAt } from '../../projections/pipelines.ts';
import { projectFollow } from '../../projections/project-follows.ts';
import type { ProjectRow } from '../../projections/projects.ts';
import { openPullRequestsOfBranch } from '../../projections/pull-requests.ts';
import { requestInfo } from '../request-context.ts';
import type { Services } from '../services.ts';

/** A refusal that knows who GitHub says sent the delivery. */
class Refused extends GyreError {
  constructor(
    cause: GyreError,
    readonly context: CommandContext,
  ) {
    super(cause.message, cause.code, cause.status);
  }
}

/** The parts of GitHub's `pull_request` delivery Gyre reads (docs.github.com, webhook events and payloads). */
const PullRequestDelivery = z.object({
  action: z.string().min(1).max(100),
  number: z.number().int().positive(),
  pull_request: z.object({
    html_url: z.string().url().max(2000),
    merged: z.boolean().nullable().optional(),
    head: z.object({
      sha: z.string().regex(/^[0-9a-f]{40,64}$/, 'must be a commit sha'),
      ref: z.string().min(1).max(255),
      user: z.object({ login: z.string() }).nullable().optional(),
      repo: z.object({ name: z.string().min(1), full_name: z.string().min(1), owner: z.object({ login: z.string().min(1) }) }).nullable(),
    }),
    base: z.object({ ref: z.string().min(1).max(255) }),
  }),
  repository: z.object({ full_name: z.string().min(1) }),
  sender: z.object({ login: z.string(), id: z.number().optional() }).nullable().optional(),
});
const buildActions = new Set(['opened', 'synchronize', 'reopened']);

interface Push {
  ref?: string;
  after?: string;
  deleted?: boolean;
  repository?: { full_name?: string };
  sender?: { login?: string; id?: number };
}

/**
 * GitHub's push and pull_request webhook: `X-Hub-Signature-256` is checked against the project's
 * webhook secret over the body exactly as sent; a bad one is refused with 401 and recorded. A push of
 * a branch or tag starts a pipeline at the pushed revision; a pull request opened or pushed to starts
 * one at its head (see `pullRequest`). A revision of a branch is built once, whichever delivery came first.
 */
export const registerGitHubWebhook = async (app: FastifyInstance, s: Services) => {
  /**
   * A push and its pull request's delivery come together: a project's deliveries are handled one at
   * a time on this server, so the second finds the revision built by the first (and a replay the pipeline).
   */
  const handling = new Map<string, Promise<unknown>>();
  const oneAtATime = <T>(projectId: string, work: () => Promise<T>): Promise<T> => {
    const next = (handling.get(projectId) ?? Promise.resolve()).catch(() => undefined).then(work);
    handling.set(projectId, next);
    void next.finally(() => handling.get(projectId) === next && handling.delete(projectId)).catch(() => undefined);
    return next;
  };

  const deliver = async (req: FastifyRequest, reply: FastifyReply, base: CommandContext) => {
    const raw = req.body as Buffer;
    if (!Buffer.isBuffer(raw)) throw new ValidationError('send the delivery as application/json');
    const event = String(req.headers['x-github-event'] ?? '');
    let payload: Push;
    try {
      payload = JSON.parse(raw.toString('utf8')) as Push;
    } catch {
      throw new ValidationError('the delivery is not valid JSON');
    }
    // until the signature holds, nothing the delivery says is believed, and an unknown repository looks like a bad signature
    const forged = new UnauthorizedError("the delivery's X-Hub-Signature-256 does not match the webhook secret of a project Gyre follows: check the secret in GitHub and in the project settings");
    const project = await findProject(s, parseProjectSlug(`gh/${payload.repository?.full_name ?? ''}`).slug).catch((e: unknown) => {
      if (e instanceof GyreError && e.status < 500) throw forged;
      throw e;
    });
    const signature = req.headers['x-hub-signature-256'];
    if (!(await s.jobSecrets.webhookSignatureValid(project.slug, raw, Array.isArray(signature) ? signature[0] : signature))) throw forged;
    const context = { ...base, actor: { id: `github:${payload.sender?.id ?? 'unknown'}`, type: 'github_user', name: payload.sender?.login ?? 'unknown' } };
    const delivery = String(req.headers['x-github-delivery'] ?? '').slice(0, 100) || null;
    return oneAtATime(project.id, () => act(reply, project, event, payload, context, delivery));
  };

  /** What a genuine delivery asks for. */
  const act = async (reply: FastifyReply, project: ProjectRow, event: string, payload: Push, context: CommandContext, delivery: string | null) => {
    const earlier = delivery ? await pipelineByDelivery(s.db, delivery) : undefined;
    if (earlier) return { message: 'this delivery has already started a pipeline', id: earlier.id, number: earlier.number };
    if (event === 'ping') return { message: 'pong' };
    if (!(await projectFollow(s.db, project.id)).followed) return reply.status(202).send({ message: `ignored: ${project.slug} is not followed; follow it again with createProject` });
    if (event === 'pull_request') return pullRequest(reply, project, payload, context, delivery);
    if (event !== 'push') return reply.status(202).send({ message: `ignored: Gyre starts pipelines on push and pull_request, not ${event}` });
    if (payload.deleted) return reply.status(202).send({ message: 'ignored: a deleted ref' });
    const m = /^refs\/(heads|tags)\/(.+)$/.exec(payload.ref ?? '');
    if (!m) throw new Refused(new ValidationError('a push names refs/heads/<branch> or refs/tags/<tag>'), context);
    const branch = m[1] === 'heads' ? m[2]! : null;
    // a pushed branch with a pull request open builds as that pull request (CIRCLE_PULL_REQUEST), as CircleCI does
    const open = branch === null ? [] : await openPullRequestsOfBranch(s.db, project.id, branch);
    if (branch !== null && branch !== project.settings.defaultBranch && project.settings.onlyBuildPullRequests && open.length === 0) {
      return reply.status(202).send({ message: `ignored: ${project.slug} only builds pull requests, the default branch and tags, and no pull request is open for ${branch}` });
    }
    if (branch !== null && payload.after) {
      // its pull request's delivery came first and built this revision
      const built = await webhookPipelineAt(s.db, project.id, branch, payload.after);
      if (built) return { message: `revision ${payload.after.slice(0, 12)} of ${branch} is already built`, id: built.id, number: built.number };
    }
    const pr = open[0];
    const by = await memberByLogin(s, payload.sender?.login ?? 'unknown');
    try {
      const p = await triggerPipeline(s, context, by, {
        slug: project.slug,
        ...(branch !== null ? { branch } : { tag: m[2] }),
        revision: payload.after,
        type: 'webhook',
        deliveryId: delivery,
        pullRequest: pr ? { number: pr.number, url: pr.url, fromFork: false, headOwner: pr.headOwner, headRepo: pr.headRepo } : null,
      });
      return reply.status(201).send({ id: p.id, number: p.number, state: p.state });
    } catch (e) {
      throw e instanceof GyreError ? new Refused(e, context) : e;
    }
  };

  /**
   * `opened`, `synchronize` and `reopened` build the head commit, read from `refs/pull/<n>/head`: a
   * pull request from the repository itself as its branch, one from a fork as `pull/<n>` (and only
   * with "build forked pull requests" on); `closed` cancels its pipelines. Other actions change nothing.
   */
  const pullRequest = async (reply: FastifyReply, project: ProjectRow, raw: unknown, context: CommandContext, delivery: string | null) => {
    const parsed = PullRequestDelivery.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new Refused(new ValidationError(`the pull_request delivery is malformed: ${issue.path.join('.') || 'the payload'} ${issue.message.toLowerCase()}`), context);
    }
    const d = parsed.data;
    const pr = d.pull_request;
    const number = d.number;
    if (d.action === 'closed') {
      await recordPullRequest(s, context, { type: 'close', projectId: project.id, projectSlug: project.slug, number, merged: pr.merged === true });
      return reply.status(202).send({ message: `pull request #${number} is closed: its running pipelines are canceled` });
    }
    if (!buildActions.has(d.action)) return reply.status(202).send({ message: `ignored: Gyre builds pull requests opened, reopened or pushed to, not ${d.action}` });
    const base = d.repository.full_name;
    const headRepo = pr.head.repo;
    // a head repository GitHub no longer knows (a deleted fork) is taken for a fork
    const fromFork = !headRepo || headRepo.full_name.toLowerCase() !== base.toLowerCase();
    const headOwner = headRepo?.owner.login ?? pr.head.user?.login ?? 'unknown';
    const headRepoName = headRepo?.name ?? base.split('/')[1] ?? '';
    await recordPullRequest(s, context, {
      type: 'open',
      pullRequest: { projectId: project.id, projectSlug: project.slug, number, url: pr.html_url, headSha: pr.head.sha, headBranch: pr.head.ref, baseBranch: pr.base.ref, fromFork, headOwner, headRepo: headRepoName },
    });
    if (fromFork && !project.settings.buildForkPullRequests) {
      return reply.status(202).send({ message: `ignored: pull request #${number} is from a fork (${headOwner}/${headRepoName}) and ${project.slug} does not build forked pull requests (turn on buildForkPullRequests)` });
    }
    const branch = fromFork ? `pull/${number}` : pr.head.ref;
    // the push of this revision came first and built it
    const built = await webhookPipelineAt(s.db, project.id, branch, pr.head.sha);
    if (built) return { message: `revision ${pr.head.sha.slice(0, 12)} of ${branch} is already built`, id: built.id, number: built.number };
    const by = await memberByLogin(s, d.sender?.login ?? 'unknown');
    try {
      const p = await triggerPipeline(s, context, by, {
        slug: project.slug,
        branch,
        revision: pr.head.sha,
        type: 'webhook',
        deliveryId: delivery,
        pullRequest: { number, url: pr.html_url, fromFork, headOwner, headRepo: headRepoName },
        fromPullRequestRef: true,
      });
      return reply.status(201).send({ id: p.id, number: p.number, state: p.state });
    } catch (e) {
      throw e instanceof GyreError ? new Refused(e, context) : e;
    }
  };

  await app.register(async (scope) => {
    // the signature covers the raw bytes: keep them
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    // GitHub sends pushes of up to 25 MB
    scope.post('/hooks/github', { bodyLimit: 25 * 1024 * 1024 }, async (req, reply) => {
      const context = { actor: { id: 'github', type: 'github_webhook', name: 'GitHub' }, request: requestInfo(req) };
      try {
        return await deliver(req, reply, context);
      } catch (e) {
        // every refused delivery is audited, whatever refused it
        if (e instanceof GyreError && e.status < 500) await s.commands.refuse('pipeline.create', { reason: e.message, code: e.code, status: e.status, operation: 'POST /hooks/github' }, { context: e instanceof Refused ? e.context : context });
        throw e;
      }
    });
  });
};
