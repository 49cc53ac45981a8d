import { taskKey, type AgentInfo, type Registration, type TaskRef } from '../../domain/agents/protocol.ts';
import { runTask, type RunningTask, type TaskRunnerDeps } from './task-runner.ts';

export interface AgentOptions extends Omit<TaskRunnerDeps, 'agentId'> {
  readonly info: AgentInfo;
  /** How long one claim waits for a task (ms). */
  readonly claimWaitMs?: number;
  /** Run one task, then stop (what Nomad allocations and VM start-up scripts run). */
  readonly oneShot?: boolean;
  readonly log?: (message: string, fields?: Record<string, unknown>) => void;
}

export interface Agent {
  readonly registration: Registration;
  readonly running: () => ReadonlyArray<TaskRef>;
  /**
   * Stops claiming and waits for the tasks it runs to end; `abandon` kills them without a report
   * (Gyre ends them when the agent registers again, or when its lease runs out).
   */
  stop(options?: { abandon?: boolean }): Promise<void>;
  /** Resolves when the agent has stopped (after `stop`, or after its one task with `oneShot`). */
  readonly done: Promise<void>;
}

/**
 * An agent: registers what it offers, then claims tasks (Gyre decides whether one fits), runs each
 * beside the others, and heartbeats its running tasks so Gyre can tell it which to stop.
 */
export const startAgent = async (options: AgentOptions): Promise<Agent> => {
  const { channel, info } = options;
  const log = options.log ?? (() => undefined);
  const registration = await channel.register(info);
  const { agentId } = registration;
  const tasks = new Map<string, { ref: TaskRef; task: RunningTask }>();
  let stopping = false;
  let idle: (() => void) | null = null;
  const claims = new AbortController();

  const heartbeat = async () => {
    try {
      const answer = await channel.heartbeat(
        agentId,
        [...tasks.values()].map((t) => t.ref),
      );
      for (const ref of answer.stop) tasks.get(taskKey(ref))?.task.stop('canceled');
    } catch (e) {
      log('heartbeat failed', { error: e instanceof Error ? e.message : String(e) });
    }
  };
  // running tasks beat often, so a cancel reaches them soon; an idle agent only keeps its lease
  const idleBeatMs = Math.max(registration.heartbeatMs, Math.floor(registration.leaseMs / 3));
  let beat: NodeJS.Timeout | undefined;
  let beating = false;
  let stopped = false;
  const scheduleBeat = () => {
    clearTimeout(beat);
    if (stopped) return;
    beat = setTimeout(
      () => {
        beating = true;
        void heartbeat().finally(() => {
          beating = false;
          scheduleBeat();
        });
      },
      tasks.size ? registration.heartbeatMs : idleBeatMs,
    );
  };
  scheduleBeat();

  const loop = async () => {
    let backoff = 250;
    while (!stopping) {
      try {
        // stopping aborts the claim: Gyre gives no task to a claim withdrawn
        const a = await channel.claim(agentId, options.claimWaitMs ?? 20_000, claims.signal);
        backoff = 250;
        if (!a) continue;
        const ref = { jobId: a.jobId, taskIndex: a.taskIndex };
        log('task claimed', { job: a.spec.name, jobId: a.jobId, task: a.taskIndex });
        const task = runTask({ ...options, agentId }, a);
        tasks.set(taskKey(ref), { ref, task });
        if (!beating) scheduleBeat();
        const ended = task.done
          .catch((e) => log('task failed to report', { error: e instanceof Error ? e.message : String(e) }))
          .finally(() => {
            tasks.delete(taskKey(ref));
            idle?.();
          });
        if (options.oneShot) {
          await ended;
          break;
        }
      } catch (e) {
        if (stopping) break;
        // a one-shot agent's task was taken or ended: there is nothing for it to run
        if (options.oneShot && (e as { code?: string }).code === 'TASK_GONE') {
          log('no task to run', { reason: e instanceof Error ? e.message : String(e) });
          break;
        }
        log('claim failed; retrying', { error: e instanceof Error ? e.message : String(e) });
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 10_000);
      }
    }
  };

  const finish = async () => {
    while (tasks.size) await new Promise<void>((r) => (idle = r));
    stopped = true;
    clearTimeout(beat);
  };
  const looping = loop();
  const done: Promise<void> = looping.then(finish);
  return {
    registration,
    running: () => [...tasks.values()].map((t) => t.ref),
    async stop(o = {}) {
      stopping = true;
      claims.abort();
      if (o.abandon) for (const t of tasks.values()) t.task.stop('lost');
      await done;
    },
    done,
  };
};
