/**
 * A 200 MB artifact through Gyre with bounded memory: a real Gyre whose local agent runs a Docker job
 * that writes BENCH_ARTIFACT_MB (200) of random bytes and stores them with `store_artifacts`; then the
 * artifact is downloaded from its URL by `curl` (another process, so the client's memory is not
 * counted). The figures are this process's resident memory (it is the server, agent included): its
 * level before, and its peak (VmHWM, reset before each phase) during the upload and the download.
 * BENCH_STORE=s3 keeps objects in an s3rver running in a child process instead of the data directory.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dockerForTests } from '../test/support/docker.ts';
import { ensureTestImage } from '../test/support/images.ts';
import { benchGyre, benchRepo } from './gyre.ts';
import { backendArg, benchDir, report } from './support.ts';

const backend = backendArg();
const exec = ([cmd, ...args]: string[]) => promisify(execFile)(cmd!, args, { encoding: 'utf8' });
const megabytes = Number(process.env.BENCH_ARTIFACT_MB ?? 200);
const storeKind = process.env.BENCH_STORE === 's3' ? 's3' : 'filesystem';

const mb = (kb: number) => Math.round(kb / 1024);
const status = (field: 'VmRSS' | 'VmHWM') => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'))![1]);
/** Linux: writing 5 to clear_refs resets the peak resident size to the current one. */
const resetPeak = () => writeFileSync('/proc/self/clear_refs', '5');

/** s3rver in its own process, so its memory is not the server's. */
const startS3rver = async (): Promise<{ env: Record<string, string>; stop(): void }> => {
  const dir = join(benchDir, `s3rver-${process.pid}`);
  const script = `import S3rver from 's3rver'; const s = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: ${JSON.stringify(dir)}, configureBuckets: [{ name: 'gyre' }] }); const { port } = await s.run(); console.log('PORT ' + port);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'], cwd: join(import.meta.dirname, '..') });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      const m = /PORT (\d+)/.exec(d.toString());
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${code}`)));
  });
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' });
  return {
    env: { GYRE_OBJECT_STORE_URL: 's3://gyre/bench', GYRE_S3_ENDPOINT: `http://127.0.0.1:${port}`, GYRE_S3_FORCE_PATH_STYLE: 'true' },
    stop: () => child.kill(),
  };
};

await ensureTestImage(await dockerForTests(), ['cimg/base:stable']);
const s3 = storeKind === 's3' ? await startS3rver() : null;
const g = await benchGyre(backend, { GYRE_LOCAL_AGENT: 'true', ...(s3?.env ?? {}) });
const base = await g.gyre.app.listen({ port: 0, host: '127.0.0.1' });
const repo = await benchRepo(`
version: 2.1
parameters:
  mb: {type: integer, default: 1}
jobs:
  big:
    docker: [{image: cimg/base:stable}]
    steps:
      - run: mkdir -p out && head -c << pipeline.parameters.mb >>m /dev/urandom > out/big.bin
      - store_artifacts: {path: out/big.bin}
workflows:
  main: {jobs: [big]}
`);
const slug = 'gh/bench/artifacts';
await g.gql(`mutation { createProject(input: {slug: "${slug}", gitUrl: "${repo.dir}"}) { id } }`);
// a pipeline with a 1 MB artifact first, so what a job costs without the big one (modules, caches, clients) is in the baseline
const run = async (mb: number) => {
  const { triggerPipeline } = await g.gql<{ triggerPipeline: { workflows: Array<{ id: string; jobs: Array<{ id: string; jobNumber: number }> }> } }>(
    'mutation($s: String!, $p: JSON) { triggerPipeline(input: {projectSlug: $s, parameters: $p}) { workflows { id jobs { id jobNumber } } } }',
    { s: slug, p: { mb } },
  );
  const w = triggerPipeline.workflows[0]!;
  const started = Date.now();
  for (;;) {
    const { workflow } = await g.gql<{ workflow: { status: string } }>('query($id: ID!) { workflow(id: $id) { status } }', { id: w.id });
    if (workflow.status === 'success') break;
    if (!['running', 'failing'].includes(workflow.status)) throw new Error(`the workflow ended ${workflow.status}`);
    if (Date.now() - started > 20 * 60_000) throw new Error('the workflow did not end in 20 minutes');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { job: w.jobs[0]!, ms: Date.now() - started };
};

await run(Number(process.env.BENCH_WARMUP_MB ?? 1));
global.gc?.();
const baselineKb = status('VmRSS');
resetPeak();
const upload = await run(megabytes);
const uploadPeakKb = status('VmHWM');

const url = (await g.gql<{ job: { artifacts: Array<{ url: string }> } }>('query($id: ID!) { job(id: $id) { artifacts { url } } }', { id: upload.job.id })).job
  .artifacts[0]!.url;
resetPeak();
const downloadStarted = Date.now();
// asynchronously: the server answering curl is this process
const { stdout } = await exec([
  'curl',
  '-sS',
  '-o',
  '/dev/null',
  '-w',
  '%{size_download}',
  '-H',
  `circle-token: ${g.token}`,
  url.startsWith('http') ? url : `${base}${url}`,
]);
const bytes = Number(stdout);
const downloadMs = Date.now() - downloadStarted;
const downloadPeakKb = status('VmHWM');
if (bytes !== megabytes * 1024 * 1024) throw new Error(`downloaded ${bytes} bytes, not ${megabytes} MB`);

report({
  bench: 'artifact-transfer',
  backend,
  store: storeKind,
  artifactMb: megabytes,
  baselineRssMb: mb(baselineKb),
  uploadPeakRssMb: mb(uploadPeakKb),
  uploadJobSeconds: Math.round(upload.ms / 100) / 10,
  downloadPeakRssMb: mb(downloadPeakKb),
  downloadMbPerSecond: Math.round(megabytes / (downloadMs / 1000)),
});
await g.stop();
repo.remove();
s3?.stop();
