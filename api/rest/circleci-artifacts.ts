import type { FastifyInstance, FastifyRequest } from 'fastify';
import { artifactHeaders } from '../../domain/files/artifact-content.ts';
import { NotFoundError, ValidationError } from '../../domain/errors.ts';
import { parseUuid } from '../../domain/ids.ts';
import { parseProjectSlug } from '../../domain/projects/slugs.ts';
import { jobByNumber, type JobRow } from '../../projections/pipelines.ts';
import { artifactsPage, artifactUrl, findArtifact, testsPage, type FileReads } from '../../application/file-reads.ts';
import { nextPageToken, pageTokenCursor } from './circleci-paging.ts';

export interface ArtifactsDeps extends FileReads {
  readonly publicUrl: string | undefined;
}

type Params = { vcs: string; org: string; repo: string; num: string };
/**
 * `{slug}` as `gh/org/repo` only: beside `/api/v2/project/:slug/:num/tests`, a project named `tests`
 * (`/api/v2/project/gh/org/tests`) would be taken for a job's tests.
 */
const path = (rest: string) => `/api/v2/project/:vcs/:org/:repo/:num${rest}`;
/** How many items a page holds: CircleCI answers a job's artifacts and tests in pages this large. */
const filePageSize = 1000;

/** `bytes=a-b`, `bytes=a-` or `bytes=-n` of an object of `size` bytes; null to send it whole, 'unsatisfiable' past its end. */
export const byteRange = (header: string | undefined, size: number): { start: number; end: number } | null | 'unsatisfiable' => {
  const m = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    return size === 0 ? 'unsatisfiable' : { start: Math.max(size - suffix, 0), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size) return 'unsatisfiable';
  return end < start ? null : { start, end };
};

/**
 * A job's artifacts and test results, as CircleCI's APIs list them (v2 and v1.1), and each artifact
 * served so that a hostile file cannot run as Gyre's origin (see domain/files/artifact-content.ts).
 */
export const registerCircleCiArtifacts = (app: FastifyInstance, deps: ArtifactsDeps) => {
  const base = (req: FastifyRequest) => deps.publicUrl?.replace(/\/+$/, '') ?? `${req.protocol}://${req.host}`;
  const jobOf = async (req: FastifyRequest): Promise<JobRow> => {
    const p = req.params as Params;
    const slug = parseProjectSlug(`${p.vcs}/${p.org}/${p.repo}`).slug;
    if (!/^\d{1,9}$/.test(p.num) || Number(p.num) < 1) throw new ValidationError('a job number is a whole number from 1');
    const job = await jobByNumber(deps.db, slug, Number(p.num));
    if (!job) throw new NotFoundError(`job ${p.num} of ${slug} not found`, 'JOB_NOT_FOUND');
    return job;
  };
  const token = (req: FastifyRequest) => pageTokenCursor((req.query as Record<string, unknown>)['page-token']);

  app.get(path('/artifacts'), async (req) => {
    const job = await jobOf(req);
    const page = await artifactsPage(deps, job.id, token(req), filePageSize);
    const at = base(req);
    return {
      items: page.items.map((a) => ({ path: a.path, node_index: a.nodeIndex, url: artifactUrl(at, job.id, a.nodeIndex, a.path) })),
      next_page_token: nextPageToken(page.next !== null, page.next ?? undefined),
    };
  });
  app.get(path('/tests'), async (req) => {
    const job = await jobOf(req);
    const page = await testsPage(deps, job.id, token(req), filePageSize);
    return {
      items: page.items.map((t) => ({
        message: t.message ?? '',
        source: t.source,
        run_time: t.run_time,
        file: t.file ?? '',
        result: t.result,
        name: t.name,
        classname: t.classname,
      })),
      next_page_token: nextPageToken(page.next !== null, page.next ?? undefined),
    };
  });
  app.get('/api/v1.1/project/:vcs/:org/:repo/:num/artifacts', async (req) => {
    const job = await jobOf(req);
    const at = base(req);
    const all = [];
    for (let cursor: string | undefined, more = true; more; ) {
      const page = await artifactsPage(deps, job.id, cursor, filePageSize);
      all.push(...page.items.map((a) => ({ path: a.path, pretty_path: a.path, node_index: a.nodeIndex, url: artifactUrl(at, job.id, a.nodeIndex, a.path) })));
      more = page.next !== null;
      cursor = page.next ?? undefined;
    }
    return all;
  });

  app.get('/output/job/:jobId/artifacts/:node/*', async (req, reply) => {
    const p = req.params as { jobId: string; node: string; '*': string };
    const jobId = parseUuid(p.jobId, 'the job id in the path');
    if (!/^\d{1,3}$/.test(p.node)) throw new ValidationError('the node index in the path is a whole number');
    const path = p['*'];
    if (!path) throw new NotFoundError('no such artifact', 'ARTIFACT_NOT_FOUND');
    const found = await findArtifact(deps, jobId, Number(p.node), path);
    const { size } = found;
    const range = byteRange(req.headers.range, size);
    reply.headers({
      ...artifactHeaders(path),
      'Accept-Ranges': 'bytes',
      'Cache-Control': 'private, max-age=0',
      'Last-Modified': new Date(found.artifact.storedAt).toUTCString(),
    });
    if (range === 'unsatisfiable') return reply.status(416).header('Content-Range', `bytes */${size}`).send();
    if (range) reply.status(206).header('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
    reply.header('Content-Length', String(range ? range.end - range.start + 1 : size));
    if (req.method === 'HEAD') {
      // the headers alone, Content-Length as a GET would give it (fastify would count an empty body): the object is not read
      reply.hijack();
      reply.raw.writeHead(reply.statusCode, reply.getHeaders() as Record<string, string>);
      reply.raw.end();
      return reply;
    }
    return reply.send(await found.read(range ?? undefined));
  });
};
