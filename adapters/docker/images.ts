import type Dockerode from 'dockerode';
import { ImagePullError, type DockerImageSpec } from '../executor/port.ts';

interface PullEvent {
  status?: string;
  progress?: string;
  id?: string;
  error?: string;
  errorDetail?: { message?: string };
}

/**
 * Pulls an image unless the daemon has it already, asking for lazy credentials only then; a failure
 * is an ImagePullError naming the image, never the password (a failure to get credentials is the
 * error of whoever gives them).
 */
export const ensureImage = async (docker: Dockerode, spec: DockerImageSpec, onProgress: (line: string) => void): Promise<void> => {
  const present = await docker
    .getImage(spec.image)
    .inspect()
    .then(
      () => true,
      (e: { statusCode?: number }) => {
        if (e.statusCode === 404) return false;
        throw e;
      },
    );
  if (present) return;
  onProgress(`Pulling ${spec.image}`);
  const auth = typeof spec.auth === 'function' ? await spec.auth() : spec.auth;
  const scrub = (text: string) => (auth?.password ? text.split(auth.password).join('***') : text);
  const authconfig = auth ? { username: auth.username, password: auth.password, serveraddress: registryOf(spec.image) } : undefined;
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.pull(spec.image, authconfig ? { authconfig } : {});
  } catch (e) {
    throw new ImagePullError(spec.image, scrub(reasonOf(e)));
  }
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(
      stream,
      (err: Error | null, events: PullEvent[]) => {
        const failed = events.find((e) => e.error || e.errorDetail);
        if (err || failed)
          reject(new ImagePullError(spec.image, scrub(err ? reasonOf(err) : (failed!.errorDetail?.message ?? failed!.error ?? 'unknown error'))));
        else resolve();
      },
      (e: PullEvent) => {
        if (e.status) onProgress(scrub([e.id, e.status, e.progress].filter(Boolean).join(' ')));
      },
    ),
  );
};

/** The registry an image name points at, as Docker reads it: the first part when it looks like a host. */
const registryOf = (image: string) => {
  const first = image.split('/')[0]!;
  return image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : 'https://index.docker.io/v1/';
};

const reasonOf = (e: unknown) => {
  const json = (e as { json?: { message?: string } }).json;
  return (json?.message ?? (e as Error).message ?? String(e)).trim();
};
