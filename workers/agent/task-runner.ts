import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { ExecutionEnvironment, StepRun } from '../../adapters/executor/port.ts';
import type { Git } from '../../adapters/git/port.ts';
import { isLeaseLost, type AgentChannel, type Assignment, type StepRef } from '../../domain/agents/protocol.ts';
import { isFileStep, type Step } from '../../domain/jobs/steps.ts';
import type { StepResult, TaskResult } from '../../domain/jobs/job.ts';
import { maxStepOutputBytes } from '../../domain/jobs/output.ts';
import { createOutputMasker } from '../../domain/secrets/output-mask.ts';
import { runFileStep } from './file-steps.ts';

/** Makes the environment a task runs in: containers for the docker executor, a directory on the host otherwise. */
export type Provision = (a: Assignment, progress: (line: string) => void) => Promise<ExecutionEnvironment>;

export interface TaskRunnerDeps {
  readonly channel: AgentChannel;
  readonly agentId: string;
  readonly provision: Provision;
  readonly git: Pick<Git, 'checkout'>;
  /** How often buffered output is sent (ms). */
  readonly flushMs?: number;
}

/** Why a task stops before its steps are done. */
export type StopReason = 'canceled' | 'timedout' | 'lost';

export interface RunningTask {
  stop(reason: StopReason): void;
  readonly done: Promise<void>;
}

/** As Go prints a duration, which CircleCI's messages quote: `1s`, `10m0s`, `5h0m0s`. */
export const formatDuration = (ms: number) => {
  const total = Math.round(ms / 1000);
  const [h, m, s] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60), total % 60];
  return h ? `${h}h${m}m${s}s` : m ? `${m}m${s}s` : `${s}s`;
};

/** `~` and relative paths as CircleCI reads them: `~` is the home of the user steps run as, relative paths are under the job's working directory. */
export const resolvePath = (path: string, home: string, base: string): string => {
  if (path === '~' || path.startsWith('~/')) return posix.join(home, path.slice(1));
  return posix.isAbsolute(path) ? path : posix.join(base, path);
};

/**
 * Runs one task: spins up its environment, runs each step as `when` says, streams the output (masked)
 * as it is written, and reports each step's end and the task's. `stop` ends it early (cancel, time
 * limit, or a lease it no longer holds).
 */
export const runTask = (deps: TaskRunnerDeps, a: Assignment): RunningTask => {
  const { channel, agentId } = deps;
  const controller = new AbortController();
  let stopped: StopReason | null = null;
  const deadline = setTimeout(() => stop('timedout'), Math.max(0, Date.parse(a.deadline) - Date.now()));
  function stop(reason: StopReason) {
    if (stopped) return;
    stopped = reason;
    controller.abort();
  }
  const ref = (stepIndex: number): StepRef => ({ jobId: a.jobId, taskIndex: a.taskIndex, stepIndex });

  /** One step's output: masked, capped, sent in order every `flushMs` or when 64 KiB gather. */
  const outputOf = (stepIndex: number) => {
    const masker = createOutputMasker(a.secrets);
    // a character split across two chunks is decoded whole, so a value holding it is still masked
    const decoder = new StringDecoder('utf8');
    let pending = '';
    let bytes = 0;
    let truncated = false;
    let sending: Promise<void> = Promise.resolve();
    let timer: NodeJS.Timeout | null = null;
    const flush = () => {
      if (timer) clearTimeout(timer);
      timer = null;
      if (!pending) return;
      const text = pending;
      pending = '';
      sending = sending
        .then(() => channel.output(agentId, ref(stepIndex), text))
        .catch((e) => {
          if (isLeaseLost(e)) stop('lost');
        });
    };
    const add = (text: string) => {
      if (truncated || !text) return;
      const size = Buffer.byteLength(text);
      if (bytes + size > maxStepOutputBytes) {
        truncated = true;
        pending += Buffer.from(text)
          .subarray(0, maxStepOutputBytes - bytes)
          .toString();
        pending += `\n[output of this step cut at ${maxStepOutputBytes / 1024 / 1024} MB]\n`;
        flush();
        return;
      }
      bytes += size;
      pending += text;
      if (pending.length >= 64 * 1024) flush();
      else timer ??= setTimeout(flush, deps.flushMs ?? 100);
    };
    return {
      write: (chunk: Buffer) => add(masker.push(decoder.write(chunk))),
      line: (text: string) => add(masker.push(`${text}\n`)),
      async close() {
        add(masker.push(decoder.end()));
        add(masker.end());
        flush();
        await sending;
        return { bytes, truncated };
      },
    };
  };

  /** How a step the task's stop cut short ends: as the task does. */
  const cutShort = (exitCode: number | null): { status: StepResult; exitCode: number | null; reason: string } => ({
    status: stopped === 'timedout' ? 'timedout' : 'canceled',
    exitCode,
    reason: stopped === 'timedout' ? 'the job ran past its time limit' : 'the job was canceled',
  });

  /** A reason goes into events and the audit log: masked whole, like the output. */
  const masked = (reason: string | null): string | null => {
    if (reason === null) return null;
    const m = createOutputMasker(a.secrets);
    return m.push(reason) + m.end();
  };

  const step = async (
    stepIndex: number,
    work: (out: ReturnType<typeof outputOf>) => Promise<{ status: StepResult; exitCode: number | null; reason: string | null }>,
  ) => {
    await channel.startStep(agentId, ref(stepIndex));
    const out = outputOf(stepIndex);
    let result: { status: StepResult; exitCode: number | null; reason: string | null };
    try {
      result = await work(out);
    } catch (e) {
      if (isLeaseLost(e)) throw e;
      out.line(e instanceof Error ? e.message : String(e));
      result = { status: 'failed', exitCode: null, reason: e instanceof Error ? e.message : String(e) };
    }
    if (result.reason && result.status !== 'success') out.line(result.reason);
    await out.close();
    await channel.finishStep(agentId, { ...ref(stepIndex), ...result, reason: masked(result.reason) });
    return result.status;
  };

  /** The config's steps, each as `when` says; what the task ends with. */
  const runSteps = async (e: ExecutionEnvironment, background: Array<Promise<unknown>>): Promise<{ result: TaskResult; reason: string | null }> => {
    const workdir = resolvePath(a.spec.workingDirectory, e.home, e.home);
    // setup_remote_docker adds DOCKER_HOST and its TLS settings here, for the steps after it
    const baseEnv: Record<string, string> = { ...a.environment, CIRCLE_NODE_INDEX: String(a.taskIndex), ...a.spec.environment };
    const shellOf = (s: string | null) => (s ?? a.spec.shell)?.split(/\s+/).filter(Boolean) ?? [...e.defaultShell];
    let failed = false;
    for (const [i, s] of a.spec.steps.entries()) {
      if (stopped) break;
      const when = s.type === 'run' || s.type === 'save_cache' ? s.when : 'on_success';
      if ((when === 'on_success' && failed) || (when === 'on_fail' && !failed)) continue;
      // a background step stays open while later steps run; the task's end stops it
      const ran = step(i + 1, (out) => runStep(s, e, out, { stepIndex: i + 1, workdir, baseEnv, shellOf }));
      if (s.type === 'run' && s.background) background.push(ran.catch(() => undefined));
      else if ((await ran) !== 'success') failed = true;
    }
    if (stopped === 'timedout') return { result: 'timedout', reason: `the job ran past its time limit (${formatDuration(a.spec.timeoutMs)})` };
    if (stopped === 'canceled') return { result: 'canceled', reason: null };
    return { result: failed ? 'failed' : 'success', reason: null };
  };

  const run = async (): Promise<void> => {
    let env: ExecutionEnvironment | null = null;
    const background: Array<Promise<unknown>> = [];
    let result: TaskResult = 'success';
    let reason: string | null = null;
    try {
      const spun = await step(0, async (out) => {
        out.line(
          `Spinning up ${a.spec.executor.type === 'docker' ? `containers: ${a.spec.executor.images.map((i) => i.image).join(', ')}` : 'a fresh working directory on the host'}`,
        );
        try {
          const provisioning = deps.provision(a, (line) => out.line(line));
          const aborted = new Promise<null>((r) => controller.signal.addEventListener('abort', () => r(null), { once: true }));
          env = await Promise.race([provisioning, aborted]);
          if (!env) {
            // stopped while it started (a pull can take minutes): close it once it is up
            void provisioning.then((late) => late.close()).catch(() => undefined);
            return { status: stopped === 'timedout' ? 'timedout' : 'canceled', exitCode: null, reason: null };
          }
        } catch (e) {
          reason = `the environment could not start: ${e instanceof Error ? e.message : String(e)}`;
          return { status: 'failed', exitCode: null, reason };
        }
        return { status: 'success', exitCode: null, reason: null };
      });
      if (spun !== 'success' || !env) result = stopped === 'canceled' ? 'canceled' : stopped === 'timedout' ? 'timedout' : 'infrastructure_fail';
      else ({ result, reason } = await runSteps(env, background));
    } catch (e) {
      if (!isLeaseLost(e)) {
        result = 'infrastructure_fail';
        reason = e instanceof Error ? e.message : String(e);
      } else stopped = 'lost';
    } finally {
      clearTimeout(deadline);
      controller.abort();
      await Promise.all(background);
      if (env) await (env as ExecutionEnvironment).close().catch(() => undefined);
    }
    if (stopped === 'lost') return;
    await channel.finishTask(agentId, { jobId: a.jobId, taskIndex: a.taskIndex, status: result, reason: masked(reason) }).catch((e) => {
      if (!isLeaseLost(e)) throw e;
    });
  };

  const runStep = async (
    s: Step,
    e: ExecutionEnvironment,
    out: ReturnType<typeof outputOf>,
    ctx: { stepIndex: number; workdir: string; baseEnv: Record<string, string>; shellOf: (s: string | null) => string[] },
  ): Promise<{ status: StepResult; exitCode: number | null; reason: string | null }> => {
    if (s.type === 'unsupported') {
      out.line(s.message);
      return { status: 'success', exitCode: null, reason: null };
    }
    if (s.type === 'setup_remote_docker') return remoteDocker(s, e, out, ctx);
    if (isFileStep(s)) {
      const resolve = (path: string) => resolvePath(path, e.home, ctx.workdir);
      const r = await runFileStep(s, {
        env: e,
        channel,
        agentId,
        step: ref(ctx.stepIndex),
        assignment: a,
        environment: ctx.baseEnv,
        resolve,
        out,
        signal: controller.signal,
      });
      // a transfer the task's stop cut short ends as the task does
      if (r.status === 'failed' && stopped) return cutShort(null);
      return r;
    }
    if (s.type === 'checkout') {
      const target = s.path ? resolvePath(s.path, e.home, ctx.workdir) : ctx.workdir;
      const local = mkdtempSync(join(tmpdir(), 'gyre-checkout-'));
      try {
        out.line(`Checking out ${a.spec.vcs.revision} of ${a.spec.vcs.repositoryUrl.replace(/\/\/[^@/]+@/, '//')} into ${target}`);
        await deps.git.checkout(a.spec.vcs.repositoryUrl, a.spec.vcs.revision, local, { pullRequest: a.spec.vcs.pullRequest?.number ?? null });
        await e.copyIn(local, target);
      } finally {
        rmSync(local, { recursive: true, force: true });
      }
      return { status: 'success', exitCode: null, reason: null };
    }
    const run: StepRun = {
      command: s.command,
      shell: ctx.shellOf(s.shell),
      env: { ...ctx.baseEnv, ...s.environment },
      workingDirectory: s.workingDirectory ? resolvePath(s.workingDirectory, e.home, ctx.workdir) : ctx.workdir,
      noOutputTimeoutMs: s.noOutputTimeoutMs,
      signal: controller.signal,
      onOutput: (chunk) => out.write(chunk),
    };
    const r = await e.run(run);
    if (r.ended === 'no_output_timeout')
      return {
        status: 'timedout',
        exitCode: r.exitCode,
        reason: `Too long with no output (exceeded ${formatDuration(s.noOutputTimeoutMs)}): context deadline exceeded`,
      };
    if (r.ended === 'aborted') {
      if (s.background && !stopped) return { status: 'success', exitCode: r.exitCode, reason: null };
      return cutShort(r.exitCode);
    }
    return r.exitCode === 0
      ? { status: 'success', exitCode: 0, reason: null }
      : { status: 'failed', exitCode: r.exitCode, reason: `Exited with code exit status ${r.exitCode}` };
  };

  /**
   * Asks Gyre for the task's remote Docker engine and waits for it, saying how far it is; once it is
   * ready, its TLS files go into the environment and the later steps get DOCKER_HOST, DOCKER_TLS_VERIFY
   * and DOCKER_CERT_PATH, as the docker CLI reads them.
   */
  const remoteDocker = async (
    s: Extract<Step, { type: 'setup_remote_docker' }>,
    e: ExecutionEnvironment,
    out: ReturnType<typeof outputOf>,
    ctx: { stepIndex: number; baseEnv: Record<string, string> },
  ): Promise<{ status: StepResult; exitCode: number | null; reason: string | null }> => {
    if (s.version) out.line(`version ${s.version}: the engine is the one on the VM service's remote Docker image`);
    if (s.dockerLayerCaching) out.line('docker_layer_caching: the engine starts with no image layers (Gyre keeps none between jobs)');
    let said = '';
    while (!stopped) {
      const engine = await channel.remoteDocker(agentId, ref(ctx.stepIndex));
      if (engine.state === 'failed') return { status: 'failed', exitCode: null, reason: engine.message };
      if (engine.state === 'ready') {
        const certPath = posix.join(e.home, '.gyre', 'remote-docker');
        const local = mkdtempSync(join(tmpdir(), 'gyre-remote-docker-'));
        try {
          writeFileSync(join(local, 'ca.pem'), engine.ca);
          writeFileSync(join(local, 'cert.pem'), engine.cert);
          writeFileSync(join(local, 'key.pem'), engine.key, { mode: 0o600 });
          await e.copyIn(local, certPath);
        } finally {
          rmSync(local, { recursive: true, force: true });
        }
        Object.assign(ctx.baseEnv, { DOCKER_HOST: engine.host, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certPath });
        out.line(`Remote Docker engine ready at ${engine.host}; DOCKER_CERT_PATH=${certPath}`);
        return { status: 'success', exitCode: null, reason: null };
      }
      if (engine.message !== said) out.line((said = engine.message));
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2000);
        controller.signal.addEventListener(
          'abort',
          () => {
            clearTimeout(t);
            resolve();
          },
          { once: true },
        );
      });
    }
    return cutShort(null);
  };

  return { stop, done: run() };
};
