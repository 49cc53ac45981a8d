import type { Knex } from 'knex';
import { GitHubRateLimited, GitHubRefused, type CommitStatus, type GitHub } from '../adapters/github/port.ts';
import type { Logger } from '../application/dependencies.ts';
import { parseRepoName } from '../domain/projects/github-repo.ts';
import { GyreError } from '../domain/errors.ts';
import type { RecordedEvent } from '../domain/events/envelope.ts';
import type { JobStatus } from '../domain/pipelines/workflow.ts';
import { jobById, pipelineById, workflowById } from '../projections/pipelines.ts';
import { projectFollow } from '../projections/project-follows.ts';
import type { Reactor } from './reactor.ts';

/**
 * Commit statuses back to GitHub, in two halves. The reactor turns workflow and job events into the
 * status each context of a commit should show, in an outbox table (one row per project, commit and
 * context; the latest event wins); the sender posts what the table says is owed, with the token of
 * the person who followed the project. GitHub being down or rate-limiting only delays statuses: a
 * build never waits for them. After a restart the table still says what is owed.
 */

const outbox = 'github_status_outbox';
/** Until when GitHub rate-limits each follower's token: every server holds back what it owes with it. */
const limits = 'github_status_rate_limits';

/**
 * For a server that now follows a copy of its log: positions of the old log mean nothing against the new one's, so what
 * was sent is marked sent at the start of the new log and what is owed stays owed, and any new event's state wins.
 */
export const forgetStatusPositions = async (trx: Knex) => {
  await ensureStatusOutboxTable(trx);
  await trx(outbox).update({ sent_seq: trx.raw(`case when sent_seq = seq then '' end`), seq: '' });
};

export const ensureStatusOutboxTable = async (db: Knex) => {
  await db.raw(`create table if not exists ${outbox} (
    project_id text not null, sha text not null, context text not null, repository text not null, follower_id text not null,
    workflow_id text not null, state text not null, description text not null, target_url text not null, seq text not null,
    pending_sent boolean not null default false, sent_seq text, attempts int not null default 0, next_attempt_at bigint not null default 0,
    claimed_until bigint not null default 0, last_error text, primary key (project_id, sha, context))`);
  await db.raw(`create table if not exists ${limits} (follower_id text primary key, until bigint not null)`);
};

type State = CommitStatus['state'];

/** One context's latest wanted state, as the reactor writes it to the outbox. */
export interface OwedStatus {
  readonly project_id: string;
  readonly sha: string;
  readonly context: string;
  readonly repository: string;
  readonly follower_id: string;
  readonly workflow_id: string;
  readonly state: State;
  readonly description: string;
  readonly target_url: string;
  readonly seq: string;
}

/**
 * Records what a context owes, unless the row already holds a later event (one delivered again after
 * a crash changes nothing; a backoff under way stays). Another workflow on the same commit and
 * context (a rerun) owes its own `pending` before its final state.
 */
export const oweStatus = async (db: Knex, row: OwedStatus) => {
  await db(outbox)
    .insert(row)
    .onConflict(['project_id', 'sha', 'context'])
    .merge({
      repository: row.repository,
      follower_id: row.follower_id,
      workflow_id: row.workflow_id,
      state: row.state,
      description: row.description,
      target_url: row.target_url,
      seq: row.seq,
      pending_sent: db.raw(`case when ${outbox}.workflow_id = excluded.workflow_id then ${outbox}.pending_sent else false end`),
    })
    .where(db.raw(`${outbox}.seq collate "C" < excluded.seq collate "C"`));
};

/** `ci/gyre: <workflow>` and `ci/gyre: <workflow>/<job>`, as GitHub lists them on a commit. */
export const statusContext = (workflow: string, job?: string) => `ci/gyre: ${workflow}${job === undefined ? '' : `/${job}`}`;

const took = (fromIso: string | null, to: string): string => {
  if (!fromIso) return '';
  const s = Math.max(0, Math.round((Date.parse(to) - Date.parse(fromIso)) / 1000));
  return s < 60 ? ` in ${s}s` : ` in ${Math.floor(s / 60)}m ${s % 60}s`;
};

/**
 * A finished job's state on GitHub: success → success; failed and timedout → failure (the code
 * failed); infrastructure_fail, canceled, unauthorized and not_run → error (Gyre, or someone,
 * stopped it before it could say).
 */
export const jobOutcome = (status: JobStatus, elapsed: string, reason: string | null): { state: State; description: string } => {
  const why = reason ? `: ${reason}` : '';
  switch (status) {
    case 'success':
      return { state: 'success', description: `Succeeded${elapsed}` };
    case 'failed':
      return { state: 'failure', description: `Failed${elapsed.replace(' in ', ' after ')}` };
    case 'timedout':
      return { state: 'failure', description: `Timed out${elapsed.replace(' in ', ' after ')}` };
    case 'infrastructure_fail':
      return { state: 'error', description: `Infrastructure failure${why}` };
    case 'canceled':
      return { state: 'error', description: `Canceled${why}` };
    case 'unauthorized':
      return { state: 'error', description: `Unauthorized${why}` };
    default:
      return { state: 'error', description: 'Not run' };
  }
};

/** A finished workflow's state: success → success; failed → failure; canceled, unauthorized, not_run, error → error. */
export const workflowOutcome = (status: string, elapsed: string): { state: State; description: string } => {
  if (status === 'success') return { state: 'success', description: `Succeeded${elapsed}` };
  if (status === 'failed') return { state: 'failure', description: `Failed${elapsed.replace(' in ', ' after ')}` };
  if (status === 'canceled') return { state: 'error', description: 'Canceled' };
  if (status === 'unauthorized') return { state: 'error', description: 'Unauthorized: a job may not use its contexts' };
  if (status === 'not_run') return { state: 'error', description: 'Not run' };
  return { state: 'error', description: 'Errored' };
};

interface Desired {
  readonly context: string;
  readonly state: State;
  readonly description: string;
  readonly targetUrl: string;
  /** Set only where a context already has a row: a job that never ran needs no status. */
  readonly onlyIfKnown?: boolean;
  /** Leaves a final state this workflow already decided (a cancel's "Canceled by x"). */
  readonly keepFinal?: boolean;
}

/** The reactor: what each workflow and job event means for its commit's statuses. */
export const githubStatusReactor = (deps: { db: Knex; publicUrl: string; wake: () => void }): Reactor => ({
  name: 'github-statuses',
  handles: [
    { exact: 'workflow.start' },
    { exact: 'workflow.job.scheduled' },
    { exact: 'workflow.job.start' },
    { exact: 'workflow.job.hold' },
    { exact: 'workflow.job.approve' },
    { exact: 'workflow.job.finish' },
    { exact: 'workflow.cancel' },
    { exact: 'workflow.finish' },
  ],
  reads: ['pipelines', 'project-follows'],
  async react(event: RecordedEvent) {
    const d = event.data as { workflowId: string; jobId?: string; job?: string; status?: string; reason?: string | null; approvedBy?: string };
    const workflow = await workflowById(deps.db, d.workflowId);
    const pipeline = workflow && (await pipelineById(deps.db, workflow.pipelineId));
    if (!workflow || !pipeline?.vcs.revision) return;
    const follow = await projectFollow(deps.db, pipeline.projectId);
    if (!follow.followed || !follow.repository || !follow.followerId) return;
    const workflowUrl = `${deps.publicUrl}/pipelines/${pipeline.projectSlug}/${pipeline.number}/workflows/${workflow.id}`;
    const desired = await (async (): Promise<Desired | null> => {
      const wf = { context: statusContext(workflow.name), targetUrl: workflowUrl };
      switch (event.type) {
        case 'workflow.start':
          return { ...wf, state: 'pending', description: 'Running' };
        case 'workflow.cancel':
          return { ...wf, state: 'error', description: `Canceled by ${event.metadata.actor.name ?? event.metadata.actor.id}` };
        case 'workflow.finish':
          return { ...wf, ...workflowOutcome(d.status ?? 'error', took(workflow.createdAt, event.occurredAt)), keepFinal: d.status === 'canceled' };
      }
      const job = d.jobId ? await jobById(deps.db, d.jobId) : undefined;
      if (!job) return null;
      const base = {
        context: statusContext(workflow.name, job.name),
        targetUrl: job.jobNumber === null ? workflowUrl : `${workflowUrl}/jobs/${job.jobNumber}`,
      };
      switch (event.type) {
        case 'workflow.job.scheduled':
          return { ...base, state: 'pending', description: 'Queued' };
        case 'workflow.job.start':
          return { ...base, state: 'pending', description: 'Running' };
        case 'workflow.job.hold':
          return { ...base, state: 'pending', description: 'Waiting for approval' };
        case 'workflow.job.approve':
          return { ...base, state: 'success', description: `Approved by ${d.approvedBy ?? event.metadata.actor.name ?? 'someone'}` };
        case 'workflow.job.finish': {
          const status = d.status as JobStatus;
          return {
            ...base,
            ...jobOutcome(status, took(job.startedAt, event.occurredAt), d.reason ?? null),
            onlyIfKnown: status === 'not_run' || status === 'canceled',
          };
        }
      }
      return null;
    })();
    if (!desired) return;
    const key = { project_id: pipeline.projectId, sha: pipeline.vcs.revision, context: desired.context };
    const row: OwedStatus = {
      ...key,
      repository: follow.repository,
      follower_id: follow.followerId,
      workflow_id: workflow.id,
      state: desired.state,
      description: desired.description,
      target_url: desired.targetUrl,
      seq: event.position,
    };
    const known = await deps.db(outbox).where(key).first('seq', 'state', 'workflow_id');
    if (!known && desired.onlyIfKnown) return;
    if (known && desired.keepFinal && known.workflow_id === workflow.id && known.state !== 'pending') return;
    await oweStatus(deps.db, row);
    deps.wake();
  },
});

export interface StatusSenderOptions {
  readonly db: Knex;
  readonly github: GitHub;
  /** Opens the GitHub token of the person who followed the project (workers/job-secrets.ts). */
  readonly tokens: { githubToken(userId: string): Promise<string | null> };
  readonly log: Logger & { info(fields: object, message?: string): void };
  /** The clock retries are timed by. */
  readonly now?: () => number;
  /** How often the table is read when nothing wakes the sender (another server's reactor filled it). */
  readonly pollMs?: number;
  /** The first retry's delay after GitHub failed; doubled each time up to `maxBackoffMs`. */
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
}

export interface StatusSender {
  /** Something may be owed: read the table now. */
  wake(): void;
  /** Wakes the sender and resolves once a whole pass over the table, begun after this call, is over. */
  pass(): Promise<void>;
  stop(): Promise<void>;
}

interface OutboxRow {
  project_id: string;
  sha: string;
  context: string;
  repository: string;
  follower_id: string;
  state: State;
  description: string;
  target_url: string;
  seq: string;
  pending_sent: boolean;
  attempts: number;
}

/** A token that can never be opened again: its owner was deleted and their data key destroyed. */
const keyDestroyed = (e: unknown) => e instanceof GyreError && e.code === 'DATA_KEY_DESTROYED';

/** The rows still owed: never sent, or sent at an older event than the row holds. */
const stillOwed = (q: Knex.QueryBuilder) => q.where((w) => w.whereNull('sent_seq').orWhereRaw(`sent_seq collate "C" < seq collate "C"`));
/** When a row may next be tried: its own backoff or claim, or its follower's rate limit. */
const dueAt = `greatest(${outbox}.next_attempt_at, ${outbox}.claimed_until, coalesce((select l.until from ${limits} l where l.follower_id = ${outbox}.follower_id), 0))`;

/**
 * The sender: posts each owed context's latest state, and a `pending` before a final state when none
 * was posted yet, so a context never ends at pending once its final was decided. A rate limit (on
 * the follower's token) holds back every context owed with that token until its reset (or
 * `retry-after`), in the table, so every server holds back; other failures retry that context with
 * capped exponential backoff. A context GitHub refuses for good (404, 422, a token no longer valid),
 * or whose follower has no GitHub token (or was deleted), is given up with the reason logged.
 */
export const startStatusSender = (options: StatusSenderOptions): StatusSender => {
  const { db, github, tokens, log } = options;
  const now = options.now ?? Date.now;
  const pollMs = options.pollMs ?? 30_000;
  const backoffMs = options.backoffMs ?? 1000;
  const maxBackoffMs = options.maxBackoffMs ?? 5 * 60_000;
  const claimMs = 60_000;
  let stopped = false;
  let woken = false;
  let wakeUp: (() => void) | null = null;
  let passesStarted = 0;
  let passesDone = 0;
  let passWaiters: Array<{ until: number; resolve: () => void }> = [];

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (woken || stopped) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakeUp = null;
        resolve();
      }
      wakeUp = done;
    });

  const keyOf = (r: OutboxRow) => ({ project_id: r.project_id, sha: r.sha, context: r.context });
  const post = (token: string, r: OutboxRow, state: State, description: string) =>
    github.createStatus(token, parseRepoName(r.repository), r.sha, { state, context: r.context, description, targetUrl: r.target_url });

  /** What a pass knows of each follower: their token, opened once per pass; whether GitHub rate-limits it. */
  interface Pass {
    readonly tokens: Map<string, Promise<string | null>>;
    readonly limited: Set<string>;
  }
  const tokenOf = (pass: Pass, followerId: string) => {
    let token = pass.tokens.get(followerId);
    if (!token) pass.tokens.set(followerId, (token = tokens.githubToken(followerId)));
    return token;
  };

  /** Sends one row, unless another server claimed it first. */
  const send = async (pass: Pass, r: OutboxRow): Promise<void> => {
    const at = now();
    // still owed: another server may have sent this row and settled its claim since this pass read it
    const claimed = await stillOwed(db(outbox).where({ ...keyOf(r), seq: r.seq }))
      .whereRaw(`${dueAt} <= ?`, [at])
      .update({ claimed_until: at + claimMs });
    if (claimed !== 1) return;
    const settle = (fields: Record<string, unknown>) =>
      db(outbox)
        .where(keyOf(r))
        .update({ claimed_until: 0, ...fields });
    const giveUp = async (reason: string, fields: object, message: string) => {
      log.warn({ repository: r.repository, context: r.context, ...fields }, message);
      await settle({ sent_seq: r.seq, last_error: reason });
    };
    try {
      let token: string | null;
      try {
        token = await tokenOf(pass, r.follower_id);
      } catch (e) {
        if (!keyDestroyed(e)) throw e;
        return await giveUp(
          'the follower was deleted: their GitHub token can no longer be opened',
          {},
          'the follower of this project was deleted: commit status not posted (someone should unfollow and follow the project again)',
        );
      }
      if (!token)
        return await giveUp(
          'the follower has no GitHub token',
          {},
          'no GitHub token for the follower of this project: commit status not posted (they should sign in with GitHub again)',
        );
      if (!r.pending_sent && r.state !== 'pending') {
        await post(token, r, 'pending', 'Queued');
        await db(outbox).where(keyOf(r)).update({ pending_sent: true });
      }
      await post(token, r, r.state, r.description);
      // a newer state that arrived meanwhile stays owed: only the seq sent is marked
      await settle({ sent_seq: r.seq, pending_sent: true, attempts: 0, last_error: null });
    } catch (e) {
      if (e instanceof GitHubRateLimited) {
        pass.limited.add(r.follower_id);
        log.warn(
          { retryAt: new Date(e.retryAt).toISOString() },
          "GitHub is rate-limiting a follower's token: holding back the commit statuses it posts until then",
        );
        // in the table, so every server holds back every context owed with this token, those owed later too
        await db(limits)
          .insert({ follower_id: r.follower_id, until: e.retryAt })
          .onConflict('follower_id')
          .merge()
          .where(db.raw(`${limits}.until < excluded.until`));
        await stillOwed(db(outbox).where({ follower_id: r.follower_id }).where('next_attempt_at', '<', e.retryAt)).update({ next_attempt_at: e.retryAt });
        await settle({ last_error: e.message });
        return;
      }
      if (e instanceof GitHubRefused && e.status >= 400 && e.status < 500 && e.status !== 408) {
        return await giveUp(e.message, { status: e.status, error: e.message }, 'GitHub refused a commit status: giving it up');
      }
      const delay = Math.min(backoffMs * 2 ** r.attempts, maxBackoffMs);
      log.warn({ repository: r.repository, context: r.context, err: e, retryInMs: delay }, 'could not post a commit status: retrying');
      await settle({ attempts: r.attempts + 1, next_attempt_at: now() + delay, last_error: e instanceof Error ? e.message.slice(0, 300) : String(e) });
    }
  };

  const owed = async (): Promise<OutboxRow[]> => (await stillOwed(db(outbox)).whereRaw(`${dueAt} <= ?`, [now()]).orderBy('seq').limit(50)) as OutboxRow[];

  /** When the next row falls due, so the loop sleeps no longer than needed. */
  const nextDue = async (): Promise<number | null> => {
    const r = await stillOwed(db(outbox))
      .min({ at: db.raw(dueAt) })
      .first();
    return r?.at == null ? null : Number(r.at);
  };

  const passOver = () => {
    passesDone++;
    const ready = passWaiters.filter((w) => passesDone >= w.until);
    passWaiters = passWaiters.filter((w) => passesDone < w.until);
    for (const w of ready) w.resolve();
  };

  const loop = (async () => {
    while (!stopped) {
      woken = false;
      passesStarted++;
      try {
        const pass: Pass = { tokens: new Map(), limited: new Set() };
        for (const r of await owed()) {
          if (stopped) break;
          if (!pass.limited.has(r.follower_id)) await send(pass, r);
        }
        const due = await nextDue();
        passOver();
        const wakeAt = due === null ? now() + pollMs : due;
        await sleep(Math.max(10, Math.min(pollMs, wakeAt - now())));
      } catch (err) {
        passOver();
        if (stopped) break;
        log.error({ err }, 'the commit status sender failed; trying again');
        await sleep(pollMs);
      }
    }
    for (const w of passWaiters) w.resolve();
  })();

  const wake = () => {
    woken = true;
    wakeUp?.();
  };
  return {
    wake,
    pass() {
      return new Promise<void>((resolve) => {
        if (stopped) return resolve();
        passWaiters.push({ until: passesStarted + 1, resolve });
        wake();
      });
    },
    async stop() {
      stopped = true;
      wakeUp?.();
      await loop;
    },
  };
};
