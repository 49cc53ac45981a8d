import { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { pack, type Headers } from 'tar-fs';
import type { DockerImageSpec, ExecutionEnvironment } from '../executor/port.ts';
import { copyEntries, handOver, symlinkCrossing, writeTar } from '../executor/tar-entries.ts';
import { execCollect, runStep } from './exec.ts';
import { ensureImage } from './images.ts';

export interface DockerExecutorOptions {
  /** This agent's id: every container carries it as the label `gyre.agent`, for removeLeftovers. */
  readonly agentId: string;
}

export interface DockerPrepare {
  readonly taskId: string;
  /** The first image is the primary container, where steps run; the rest are services. */
  readonly images: ReadonlyArray<DockerImageSpec>;
  /** More labels for every container (`gyre.task` and `gyre.agent` are set from taskId and the agent). */
  readonly labels?: Readonly<Record<string, string>>;
  /** Limits of the primary container, where the steps run. */
  readonly cpus?: number;
  readonly memoryMb?: number;
  readonly onProgress?: (line: string) => void;
}

/** Keeps the primary container alive and idle, whatever its image would run. */
const idle = { Entrypoint: ['/bin/sh'], Cmd: ['-c', 'while :; do sleep 86400; done'] };

/** As config.yml gives them: a list is the argv, a string is split at whitespace. */
const argv = (value: string | ReadonlyArray<string> | undefined) =>
  value === undefined ? undefined : typeof value === 'string' ? value.trim().split(/\s+/) : [...value];
const envList = (env: Readonly<Record<string, string>> | undefined) => Object.entries(env ?? {}).map(([k, v]) => `${k}=${v}`);

/**
 * A docker executor on one Docker daemon: the primary container idles and steps run in it through
 * `exec`; service containers run their images as they are and share the primary's network
 * namespace, so a service listening on a port is `localhost:PORT` in the primary (and its `name`
 * resolves to 127.0.0.1 there).
 */
export const createDockerExecutor = (docker: Dockerode, options: DockerExecutorOptions) => {
  const networkMode = () =>
    docker
      .getNetwork('bridge')
      .inspect()
      .then(
        () => 'bridge',
        () => 'none',
      );

  return {
    async prepare(task: DockerPrepare): Promise<ExecutionEnvironment> {
      const [primarySpec, ...serviceSpecs] = task.images;
      if (!primarySpec) throw new Error('a docker executor needs at least one image');
      const onProgress = task.onProgress ?? (() => undefined);
      for (const spec of task.images) await ensureImage(docker, spec, onProgress);

      const labels = { ...task.labels, 'gyre.task': task.taskId, 'gyre.agent': options.agentId };
      const created: Dockerode.Container[] = [];
      const removeAll = () => Promise.all(created.map((c) => c.remove({ force: true, v: true }).catch(() => undefined)));
      try {
        const primary = await docker.createContainer({
          Image: primarySpec.image,
          ...idle,
          Env: envList(primarySpec.environment),
          // the init and the idle loop run as root; steps run as the image's user through exec
          User: '0',
          Labels: { ...labels, 'gyre.role': 'primary' },
          HostConfig: {
            NetworkMode: await networkMode(),
            // an init as pid 1 reaps what killed steps leave behind
            Init: true,
            ExtraHosts: serviceSpecs.flatMap((s) => (s.name ? [`${s.name}:127.0.0.1`] : [])),
            ...(task.cpus ? { NanoCpus: Math.round(task.cpus * 1e9) } : {}),
            ...(task.memoryMb ? { Memory: Math.round(task.memoryMb * 1024 * 1024) } : {}),
          },
        });
        created.push(primary);
        await primary.start();
        onProgress(`Started the primary container ${primarySpec.image}`);
        for (const spec of serviceSpecs) {
          const entrypoint = argv(spec.entrypoint);
          const cmd = argv(spec.command);
          const service = await docker.createContainer({
            Image: spec.image,
            ...(entrypoint ? { Entrypoint: entrypoint } : {}),
            ...(cmd ? { Cmd: cmd } : {}),
            Env: envList(spec.environment),
            ...(spec.user ? { User: spec.user } : {}),
            Labels: { ...labels, 'gyre.role': 'service' },
            HostConfig: { NetworkMode: `container:${primary.id}` },
          });
          created.push(service);
          await service.start();
          onProgress(`Started the service container ${spec.image}`);
        }

        // the primary runs as root (its init and idle loop): steps run as the config's user, or else the image's own USER
        const imageUser = (await docker.getImage(primarySpec.image).inspect()).Config?.User || undefined;
        const stepUser = primarySpec.user ?? imageUser;
        const probe = await execCollect(
          primary,
          ['/bin/sh', '-c', 'echo "$HOME"; id -u 2>/dev/null || echo 0; id -g 2>/dev/null || echo 0; if [ -x /bin/bash ]; then echo bash; else echo sh; fi'],
          stepUser,
        );
        const [home = '/', uid = '0', gid = '0', shell = 'sh'] = probe.output.split('\n').map((l) => l.trim());
        if (probe.exitCode !== 0)
          throw new Error(`the primary container ${primarySpec.image} cannot run /bin/sh (exit ${probe.exitCode}): ${probe.output.trim()}`);
        const running = new Set<() => void>();
        let closed = false;

        return {
          home: home || '/',
          defaultShell: shell === 'bash' ? ['/bin/bash', '-eo', 'pipefail'] : ['/bin/sh', '-eo', 'pipefail'],
          async copyIn(hostDirectory, targetDirectory) {
            const made = await execCollect(primary, ['/bin/sh', '-c', 'mkdir -p -- "$1" && chown "$2:$3" "$1"', 'sh', targetDirectory, uid, gid], '0');
            if (made.exitCode !== 0) throw new Error(`cannot create ${targetDirectory} in the primary container: ${made.output.trim()}`);
            const owner = { uid: Number(uid) || 0, gid: Number(gid) || 0 };
            // modes as they are (tar-fs masks them with the process umask otherwise; its types lack the option)
            const packing = { umask: 0, map: (h: Headers) => ({ ...h, ...owner }) };
            // tar-fs gives a streamx stream; the Engine client wants a Node stream
            await primary.putArchive(Readable.from(pack(hostDirectory, packing)), { path: targetDirectory });
          },
          async archive(path) {
            try {
              // the Engine's answer is the tar `docker cp` gives: entries named from the path's last segment
              return (await primary.getArchive({ path })) as unknown as Readable;
            } catch (e) {
              if ((e as { statusCode?: number }).statusCode === 404) return null;
              throw new Error(`cannot read ${path} in the primary container: ${e instanceof Error ? e.message : String(e)}`);
            }
          },
          async extract(tar, targetDirectory) {
            // a directory made here belongs to the step user; one that is there already is left as it is (`/` among them)
            const made = await execCollect(
              primary,
              ['/bin/sh', '-c', '[ -d "$1" ] || { mkdir -p -- "$1" && chown "$2:$3" "$1"; }', 'sh', targetDirectory, uid, gid],
              '0',
            );
            if (made.exitCode !== 0) throw new Error(`cannot create ${targetDirectory} in the primary container: ${made.output.trim()}`);
            // the Engine unpacks as root, keeping the archive's owners: every entry is given to the step user on its way
            const owner = { uid: Number(uid) || 0, gid: Number(gid) || 0, uname: '', gname: '' };
            // the Engine writes through a symlink the archive made (`x -> /etc`, then `x/passwd`): such an archive is refused
            const crossing = symlinkCrossing();
            const owned = writeTar((into) =>
              copyEntries(tar, into, (h) => {
                const problem = crossing(h);
                if (problem) throw new Error(`refused to unpack into ${targetDirectory}: ${problem}`);
                return { ...h, ...owner };
              }),
            );
            await handOver(owned, (body, abortSignal) => primary.putArchive(body, { path: targetDirectory, abortSignal }));
          },
          run(step) {
            if (closed) throw new Error('the docker environment is closed: prepare a new one');
            return runStep(primary, step, stepUser, (abort) => {
              running.add(abort);
              return () => running.delete(abort);
            });
          },
          async close() {
            closed = true;
            for (const abort of running) abort();
            await removeAll();
          },
        };
      } catch (e) {
        await removeAll();
        throw e;
      }
    },

    /** Removes the containers an earlier run of this agent left (it was killed before close); answers how many. */
    async removeLeftovers(labelSelector: Readonly<Record<string, string>> = { 'gyre.agent': options.agentId }): Promise<number> {
      const label = Object.entries(labelSelector).map(([k, v]) => `${k}=${v}`);
      const leftovers = await docker.listContainers({ all: true, filters: { label } });
      await Promise.all(
        leftovers.map((c) =>
          docker
            .getContainer(c.Id)
            .remove({ force: true, v: true })
            .catch(() => undefined),
        ),
      );
      return leftovers.length;
    },
  };
};

export type DockerExecutor = ReturnType<typeof createDockerExecutor>;
