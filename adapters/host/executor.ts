import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync } from 'node:fs';
import { cp, lstat, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract, pack } from 'tar-fs';
import { watchStep } from '../executor/step-watch.ts';
import type { ExecutionEnvironment, StepResult, StepRun } from '../executor/port.ts';

export interface HostExecutorOptions {
  /** Each task gets a fresh directory `<root>/<taskId>`, its home. */
  readonly root: string;
}

const taskDir = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** Each task's process groups, one per line, beside its directory: what a killed agent's next run must end. */
const groupsFile = (root: string, taskId: string) => join(root, `${taskId}.groups`);

const killGroup = (pid: number | undefined) => {
  try {
    if (pid) process.kill(-pid, 'SIGKILL');
  } catch {
    // the group is gone already
  }
};

/**
 * Steps as child processes on this machine, in a directory of their own per task: home is that
 * directory, so `~/project` lands inside it. Each step leads a process group of its own, so a
 * timeout or an abort kills whatever the step started too.
 */
export const createHostExecutor = (options: HostExecutorOptions) => ({
  /**
   * Ends what an earlier run of this agent left: the process groups of its tasks' steps (an agent
   * killed with SIGKILL leaves them running) and the tasks' directories. Returns how many tasks.
   */
  async removeLeftovers(): Promise<number> {
    if (!existsSync(options.root)) return 0;
    const entries = await readdir(options.root);
    const tasks = new Set(entries.filter((f) => taskDir.test(f)).map((f) => f.replace(/\.groups$/, '')));
    for (const task of tasks) {
      const recorded = await readFile(groupsFile(options.root, task), 'utf8').catch(() => '');
      for (const line of recorded.split('\n')) killGroup(Number(line) || undefined);
      await rm(join(options.root, task), { recursive: true, force: true });
      await rm(groupsFile(options.root, task), { force: true });
    }
    return tasks.size;
  },

  async prepare({ taskId }: { taskId: string }): Promise<ExecutionEnvironment> {
    if (!taskDir.test(taskId) || taskId.endsWith('.groups'))
      throw new Error(`task id ${JSON.stringify(taskId)} cannot name a directory: use letters, digits, '.', '_' and '-'`);
    const home = join(options.root, taskId);
    await rm(home, { recursive: true, force: true });
    await mkdir(home, { recursive: true, mode: 0o700 });
    const defaultShell = existsSync('/bin/bash') ? ['/bin/bash', '-eo', 'pipefail'] : ['/bin/sh', '-eo', 'pipefail'];
    const running = new Map<ChildProcess, () => void>();
    /** Process groups of steps, kept until nothing of them is left, so close() ends what a step left in the background. */
    const groups = new Set<number>();
    let closed = false;

    const groupAlive = (pid: number) => {
      try {
        process.kill(-pid, 0);
        return true;
      } catch {
        return false;
      }
    };

    const run = async (step: StepRun): Promise<StepResult> => {
      if (closed) throw new Error('the host environment is closed: prepare a new one');
      if (!isAbsolute(step.workingDirectory)) throw new Error(`working directory ${step.workingDirectory} is not absolute`);
      const [shell, ...flags] = step.shell;
      if (!shell) throw new Error('a step needs a shell');
      await mkdir(step.workingDirectory, { recursive: true });
      // standard error goes into the same pipe as standard output, so the two stay in the order written
      const child = spawn('/bin/sh', ['-c', 'exec 2>&1; exec "$@"', 'sh', shell, ...flags, '-c', step.command], {
        cwd: step.workingDirectory,
        env: { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: home, ...step.env },
        detached: true,
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      if (child.pid) {
        groups.add(child.pid);
        appendFileSync(groupsFile(options.root, taskId), `${child.pid}\n`);
      }
      const watch = watchStep(step, () => killGroup(child.pid));
      running.set(child, watch.abort);
      child.stdout!.on('data', (chunk: Buffer) => watch.output(chunk));
      try {
        const code = await new Promise<number | null>((resolve, reject) => {
          child.once('error', reject);
          child.once('close', (exitCode) => resolve(exitCode));
        });
        return watch.result(code);
      } finally {
        running.delete(child);
        // what the step left in the background goes with it when the step was killed
        if (watch.stopped) killGroup(child.pid);
        if (child.pid && !groupAlive(child.pid)) groups.delete(child.pid);
      }
    };

    return {
      home,
      defaultShell,
      async copyIn(hostDirectory, targetDirectory) {
        await mkdir(targetDirectory, { recursive: true });
        await cp(hostDirectory, targetDirectory, { recursive: true, force: true, verbatimSymlinks: true });
      },
      async archive(path) {
        const found = await lstat(path).catch((e: NodeJS.ErrnoException) => {
          if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return null;
          throw e;
        });
        if (!found) return null;
        // modes as they are (the process umask would mask them); sockets and the like are left out
        const packing = { entries: [basename(path) || '.'], umask: 0, strict: false };
        return Readable.from(pack(dirname(path), packing), { objectMode: false });
      },
      async extract(tar, targetDirectory) {
        await mkdir(targetDirectory, { recursive: true });
        // files belong to this process's user (tar-fs would give them the archive's owners when run as root);
        // symlinks may point anywhere, as tar makes them: nothing is written through one; devices and fifos are left out
        const unpacking = { chown: false, umask: 0, validateSymlinks: false, strict: false };
        await pipeline(tar, extract(targetDirectory, unpacking));
      },
      run,
      async close() {
        closed = true;
        const children = [...running.keys()];
        for (const abort of running.values()) abort();
        for (const pid of groups) killGroup(pid);
        await Promise.all(
          children.map(
            (child) =>
              new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('close', () => resolve()))),
          ),
        );
        await rm(home, { recursive: true, force: true });
        await rm(groupsFile(options.root, taskId), { force: true });
      },
    };
  },
});

export type HostExecutor = ReturnType<typeof createHostExecutor>;
