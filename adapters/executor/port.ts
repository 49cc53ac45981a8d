import type { Readable } from 'node:stream';
import { GyreError } from '../../domain/errors.ts';

/** One `run` step, as the agent hands it to an execution environment. */
export interface StepRun {
  /** The run step's script. */
  readonly command: string;
  /** The shell and its flags, e.g. ['/bin/bash', '-eo', 'pipefail']; the script follows as `-c <command>`. The agent passes `defaultShell` when the step names none. */
  readonly shell: ReadonlyArray<string>;
  /** The whole environment of the step, already merged (job, context, project, step). */
  readonly env: Readonly<Record<string, string>>;
  /** Absolute path in the environment; created when missing. */
  readonly workingDirectory: string;
  /** The step is killed when it prints nothing for this long. */
  readonly noOutputTimeoutMs: number;
  /** Aborting kills the step at once (cancel, job time limit). */
  readonly signal?: AbortSignal;
  /** Standard output and standard error interleaved, in the order written, chunk by chunk. */
  readonly onOutput: (chunk: Buffer) => void;
}

export interface StepResult {
  /** The exit code when the step exited by itself; null when it was killed. */
  readonly exitCode: number | null;
  readonly ended: 'exited' | 'no_output_timeout' | 'aborted';
}

/** Where a job's steps run: a set of containers, or a directory on this machine. */
export interface ExecutionEnvironment {
  /** Home of the user steps run as (for `~` in paths). */
  readonly home: string;
  /** CircleCI's default: /bin/bash -eo pipefail where bash exists, /bin/sh -eo pipefail otherwise. */
  readonly defaultShell: ReadonlyArray<string>;
  /** Copies a directory of this machine (the agent's checkout) into `targetDirectory`, which is created. */
  copyIn(hostDirectory: string, targetDirectory: string): Promise<void>;
  /**
   * A tar of the file or directory at `path` (absolute), as `docker cp` gives it: entries named from
   * the path's last segment (`out/a.html` for `/work/out`), modes and symlinks kept; null when nothing
   * is there.
   */
  archive(path: string): Promise<Readable | null>;
  /** Unpacks a tar into `targetDirectory` (created), keeping modes and symlinks; files belong to the user steps run as. */
  extract(tar: Readable, targetDirectory: string): Promise<void>;
  /** Runs one step to its end; a background step is a run() the agent does not await. */
  run(step: StepRun): Promise<StepResult>;
  /** Kills everything still running and removes the containers or the task directory. */
  close(): Promise<void>;
}

/** An image of a docker executor, as config.yml names it; the first of a job's images is the primary container. */
export interface DockerImageSpec {
  readonly image: string;
  /** A host name the other containers reach this one by. */
  readonly name?: string;
  readonly entrypoint?: string | ReadonlyArray<string>;
  readonly command?: string | ReadonlyArray<string>;
  readonly user?: string;
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * Credentials for the pull. A function is asked only when the image must be pulled (the engine
   * lacks it), for credentials that cost a call to get, such as Amazon ECR's.
   */
  readonly auth?: RegistryAuth | (() => Promise<RegistryAuth>);
}

export interface RegistryAuth {
  readonly username: string;
  readonly password: string;
}

/** An image of the job could not be had (no such image, no access, registry out of reach): the job cannot start. */
export class ImagePullError extends GyreError {
  constructor(
    readonly image: string,
    reason: string,
  ) {
    super(
      `image ${image} could not be pulled: ${reason}; check the image name and tag, and the registry credentials (auth, or aws_auth for Amazon ECR) the config gives`,
      'IMAGE_PULL_FAILED',
      502,
    );
  }
}
