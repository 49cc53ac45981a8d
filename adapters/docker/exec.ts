import { randomUUID } from 'node:crypto';
import type Dockerode from 'dockerode';
import { watchStep } from '../executor/step-watch.ts';
import type { StepResult, StepRun } from '../executor/port.ts';

/**
 * Splits Docker's attach stream (no TTY: frames of an 8-byte header — stream type, three zero
 * bytes, a big-endian length — then the payload) and hands each payload on in order.
 */
export const demultiplex = (onPayload: (chunk: Buffer) => void) => {
  let pending: Buffer = Buffer.alloc(0);
  return (data: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, data]) : data;
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4);
      if (pending.length < 8 + size) break;
      if (size > 0) onPayload(pending.subarray(8, 8 + size));
      pending = pending.subarray(8 + size);
    }
  };
};

/** Runs a short command of the environment's own (not a step) and gives back its output and exit code. */
export const execCollect = async (container: Dockerode.Container, cmd: string[], user?: string): Promise<{ exitCode: number | null; output: string }> => {
  const exec = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, ...(user ? { User: user } : {}) });
  const stream = await exec.start({});
  const chunks: Buffer[] = [];
  const split = demultiplex((c) => chunks.push(Buffer.from(c)));
  stream.on('data', split);
  await ended(stream);
  return { exitCode: await exitCodeOf(exec), output: Buffer.concat(chunks).toString('utf8') };
};

/**
 * The step's process writes its pid to `$1`, makes and enters its working directory `$2`, and then
 * becomes the step's shell (exec keeps the pid). Docker makes each exec'd process the leader of its
 * own process group, so killing that group kills what the step started too.
 */
const wrapper = 'exec 2>&1; echo $$ > "$1"; mkdir -p -- "$2" && cd -- "$2" || exit 1; shift 2; exec "$@"';

/** Kills the process group in the pid file `$1`, waiting (a second at most) for the file to be written. */
const killer =
  'for i in $(seq 1 40); do [ -s "$1" ] && break; sleep 0.025; done; pid=$(cat "$1" 2>/dev/null) || exit 0; kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null; rm -f "$1"';

/** How long a killed step's stream may take to end before it is dropped. */
const drainAfterKillMs = 5_000;

export const runStep = async (
  container: Dockerode.Container,
  step: StepRun,
  user: string | undefined,
  track: (abort: () => void) => () => void,
): Promise<StepResult> => {
  const [shell, ...flags] = step.shell;
  if (!shell) throw new Error('a step needs a shell');
  const pidFile = `/tmp/gyre-step-${randomUUID()}.pid`;
  const exec = await container.exec({
    Cmd: ['/bin/sh', '-c', wrapper, 'sh', pidFile, step.workingDirectory, shell, ...flags, '-c', step.command],
    Env: Object.entries(step.env).map(([k, v]) => `${k}=${v}`),
    AttachStdout: true,
    AttachStderr: true,
    ...(user ? { User: user } : {}),
  });
  const stream = (await exec.start({})) as NodeJS.ReadableStream & { destroy?: () => void };
  let killed = false;
  const kill = () => {
    if (killed) return;
    killed = true;
    void execCollect(container, ['/bin/sh', '-c', killer, 'sh', pidFile], '0')
      .catch(() => undefined)
      .then(() => setTimeout(() => stream.destroy?.(), drainAfterKillMs).unref());
  };
  const watch = watchStep(step, kill);
  const untrack = track(watch.abort);
  try {
    stream.on(
      'data',
      demultiplex((chunk) => watch.output(chunk)),
    );
    await ended(stream);
    return watch.result(watch.stopped ? null : await exitCodeOf(exec));
  } finally {
    untrack();
  }
};

const ended = (stream: NodeJS.ReadableStream) =>
  new Promise<void>((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });

/** The exit code once Docker has recorded it (it can trail the end of the stream); null when the exec is gone. */
const exitCodeOf = async (exec: Dockerode.Exec): Promise<number | null> => {
  const deadline = Date.now() + 2_000;
  for (;;) {
    const info = await exec.inspect().catch(() => null);
    if (!info) return null;
    if (!info.Running || Date.now() > deadline) return info.Running ? null : info.ExitCode;
    await new Promise((r) => setTimeout(r, 20));
  }
};
