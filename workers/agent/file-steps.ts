import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { ExecutionEnvironment } from '../../adapters/executor/port.ts';
import {
  copyEntries,
  entryName,
  forEachEntry,
  handOver,
  splitEntries,
  writeTar,
  type TarEntry,
  type TarHeader,
  type TarPack,
} from '../../adapters/executor/tar-entries.ts';
import { isLeaseLost, type AgentFiles, type Assignment, type StepRef } from '../../domain/agents/protocol.ts';
import { artifactName, workspacePathProblem, workspacePrefix, workspaceRootProblem, workspaceSelects } from '../../domain/files/artifact-paths.ts';
import { cacheArch, checksumPaths, isCacheKeyProblem, renderCacheKey, type CacheKeyContext } from '../../domain/files/cache-keys.ts';
import { createTextMasker } from '../../domain/secrets/output-mask.ts';
import { parseJUnitReport, reportTooLarge, type TestReportProblem, type TestResult } from '../../domain/files/test-results.ts';
import type { StepResult } from '../../domain/jobs/job.ts';
import type { FileStep } from '../../domain/jobs/steps.ts';

/**
 * The file steps as an agent runs them, CircleCI's way: files leave and enter the environment as tar
 * streams through `archive` and `extract`, and go to Gyre through the channel as they are read.
 */

export interface FileStepContext {
  readonly env: ExecutionEnvironment;
  readonly channel: AgentFiles;
  readonly agentId: string;
  readonly step: StepRef;
  readonly assignment: Assignment;
  /** The task's environment, for `{{ .Environment.NAME }}` in cache keys. */
  readonly environment: Readonly<Record<string, string>>;
  /** A path of the step as the task reads it: `~` is home, a relative path is under the working directory. */
  readonly resolve: (path: string) => string;
  readonly out: { line(text: string): void };
  /** Aborts when the task stops: a transfer under way ends with it. */
  readonly signal?: AbortSignal;
}

export interface FileStepEnd {
  readonly status: StepResult;
  readonly exitCode: null;
  readonly reason: string | null;
}

/** The largest JUnit report read, and how much of all reports is kept (the protocol's limits). */
export const maxReportBytes = 64 * 1024 * 1024;
const maxTests = 200_000;
const maxProblems = 1000;

/** A step that fails with this message as its reason, as it is. */
class StepFailure extends Error {}

const succeeded: FileStepEnd = { status: 'success', exitCode: null, reason: null };
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** A call to Gyre: a lost lease goes up as it is, any other failure fails the step saying what could not be done. */
const calling = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
  try {
    return await call();
  } catch (e) {
    if (isLeaseLost(e) || e instanceof StepFailure) throw e;
    throw new StepFailure(`${what}: ${message(e)}`);
  }
};

/** Ends `stream` when the task stops, so a long transfer stops with it. */
const stopping = async <T>(signal: AbortSignal | undefined, stream: Readable, work: () => Promise<T>): Promise<T> => {
  const stop = () => stream.destroy(new Error('the task was stopped'));
  signal?.addEventListener('abort', stop, { once: true });
  if (signal?.aborted) stop();
  try {
    return await work();
  } finally {
    signal?.removeEventListener('abort', stop);
  }
};

/** Sizes as CircleCI prints them: `32 B`, `1.5 KiB`, `666 MiB`. */
export const formatBytes = (bytes: number): string => {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit ? Number(value.toFixed(1)) : value} ${units[unit]}`;
};

const isFile = (h: TarEntry) => h.type === 'file' || h.type === 'contiguous-file';
/** An entry's name under the archived directory (the path's own segment dropped); `` for the directory itself. */
const under = (name: string) => name.split('/').slice(1).join('/');
/** A header renamed, a hard link's target with it (it names another entry of the same archive). */
const renamed = (h: TarEntry, rename: (name: string) => string): TarHeader => ({
  ...h,
  name: rename(entryName(h)),
  ...(h.type === 'link' ? { linkname: rename(entryName({ name: h.linkname })) } : {}),
});

const storeArtifacts = async (s: Extract<FileStep, { type: 'store_artifacts' }>, c: FileStepContext): Promise<FileStepEnd> => {
  const source = c.resolve(s.path);
  const tar = await c.env.archive(source);
  if (!tar) {
    c.out.line(`Uploading ${source} to ${artifactName(s, { kind: 'file' })}`);
    c.out.line(`  No artifact files found at ${source}`);
    return succeeded;
  }
  const parent = posix.dirname(source);
  let files = 0;
  // symlinks and directories are not artifacts: only regular files go, each under its artifact name
  const made = writeTar((pack) =>
    copyEntries(tar, pack, (h) => {
      if (!isFile(h)) return null;
      const name = entryName(h);
      const relative = under(name);
      const stored = artifactName(s, relative ? { kind: 'directory', relative } : { kind: 'file' });
      c.out.line(`Uploading ${posix.join(parent, name)} to ${stored}`);
      files++;
      return { ...h, name: stored };
    }),
  );
  const stored = await calling('the artifacts could not be stored', () =>
    handOver(made, (body) => stopping(c.signal, body, () => c.channel.storeArtifacts(c.agentId, c.step, body))),
  );
  if (!files) c.out.line(`  No artifact files found at ${source}`);
  else c.out.line(`Uploaded ${stored.files} artifact${stored.files === 1 ? '' : 's'} (${formatBytes(stored.bytes)})`);
  for (const skipped of stored.skipped) c.out.line(`  Skipped ${skipped.path}: ${skipped.reason}`);
  return succeeded;
};

const storeTestResults = async (s: Extract<FileStep, { type: 'store_test_results' }>, c: FileStepContext): Promise<FileStepEnd> => {
  const source = c.resolve(s.path);
  const tar = await c.env.archive(source);
  if (!tar) {
    c.out.line(`Unable to save test results from ${source}: there is no such file or directory`);
    c.out.line('Found no test results, skipping');
    return succeeded;
  }
  const reports: string[] = [];
  const tests: TestResult[] = [];
  const problems: TestReportProblem[] = [];
  let directory: boolean | null = null;
  try {
    await forEachEntry(tar, async (h, body) => {
      directory ??= h.type === 'directory';
      const name = entryName(h);
      if (!isFile(h) || !/\.xml$/i.test(name)) return;
      const file = under(name) || name;
      reports.push(file);
      if (h.size > maxReportBytes) return void problems.push(reportTooLarge(file, h.size, maxReportBytes));
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk);
      const report = parseJUnitReport(file, Buffer.concat(chunks).toString('utf8'), { maxBytes: maxReportBytes });
      if (!report.ok) return void problems.push(report.problem);
      for (const t of report.tests) {
        if (tests.length < maxTests) tests.push(t);
        else return void problems.push({ file, reason: `more than ${maxTests} tests in all: Gyre keeps the first ${maxTests}` });
      }
    });
  } catch (e) {
    throw new StepFailure(`the test results at ${source} could not be read: ${message(e)}`);
  }
  if (!reports.length) {
    c.out.line(`No JUnit XML reports found at ${source}`);
    c.out.line('Found no test results, skipping');
    return succeeded;
  }
  c.out.line('Archiving the following test results');
  const base = directory ? source : posix.dirname(source);
  for (const file of reports) c.out.line(`  * ${posix.join(base, file)}`);
  for (const p of problems.slice(0, maxProblems)) c.out.line(`  Could not read ${p.file}: ${p.reason}`);
  // what a report says goes into Gyre's events and answers: a secret a test printed is masked there as in the output
  const mask = createTextMasker(c.assignment.secrets);
  const masked = {
    reports: reports.length,
    tests: tests.map((t) => ({
      ...t,
      name: mask(t.name),
      classname: mask(t.classname),
      file: t.file === null ? null : mask(t.file),
      message: t.message === null ? null : mask(t.message),
      source: mask(t.source),
    })),
    problems: problems.slice(0, maxProblems).map((p) => ({ file: mask(p.file), reason: mask(p.reason) })),
  };
  const counts = await calling('the test results could not be stored', () => c.channel.storeTestResults(c.agentId, c.step, masked));
  c.out.line(
    `Uploaded ${reports.length} test report${reports.length === 1 ? '' : 's'}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`,
  );
  return succeeded;
};

/** CircleCI's `{{ arch }}` for this machine, where the agent runs its jobs. */
let machineArch: string | undefined;
const arch = () => {
  if (machineArch === undefined) {
    let cpuinfo: string | null = null;
    try {
      cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      // not Linux: the OS and CPU say enough
    }
    machineArch = cacheArch(process.platform, process.arch, cpuinfo);
  }
  return machineArch;
};

/** `{{ checksum "file" }}`: the base64 SHA-256 of the file's content (through symlinks), null when there is no file. */
const checksumOf = async (c: FileStepContext, path: string, hops = 0): Promise<string | null> => {
  const tar = await c.env.archive(path);
  if (!tar) return null;
  let first = true;
  let sum: string | null = null;
  let link: string | null = null;
  await forEachEntry(tar, async (h, body) => {
    if (!first) return;
    first = false;
    if (isFile(h)) {
      const hash = createHash('sha256');
      for await (const chunk of body) hash.update(chunk);
      sum = hash.digest('base64');
    } else if (h.type === 'symlink') link = posix.resolve(posix.dirname(path), h.linkname);
  });
  return link && hops < 8 ? checksumOf(c, link, hops + 1) : sum;
};

/** What cache key templates render from: the job's, and the checksum of each file they name, read first. */
const keyContext = async (c: FileStepContext, templates: ReadonlyArray<string>): Promise<CacheKeyContext> => {
  const sums = new Map<string, string | null>();
  for (const template of templates) {
    const paths = checksumPaths(template);
    if (Array.isArray(paths)) for (const p of paths) if (!sums.has(p)) sums.set(p, await checksumOf(c, c.resolve(p)));
  }
  const { vcs, jobNumber } = c.assignment.spec;
  return {
    branch: vcs.branch ?? '',
    revision: vcs.revision,
    buildNum: jobNumber ?? 0,
    environment: c.environment,
    checksum: (p) => sums.get(p) ?? null,
    now: Date.now,
    arch: arch(),
  };
};

/** The archives of `paths`, opened before anything is sent; a path where nothing is gives null. */
const openArchives = async <T extends { path: string }>(c: FileStepContext, sources: ReadonlyArray<T>): Promise<Array<T & { tar: Readable | null }>> => {
  const opened: Array<T & { tar: Readable | null }> = [];
  try {
    for (const source of sources) opened.push({ ...source, tar: await c.env.archive(source.path) });
  } catch (e) {
    for (const o of opened) o.tar?.destroy();
    throw e;
  }
  return opened;
};

/** Copies archives one after the other into `pack`; when one fails, those not read yet are closed. */
const copyAll = async <T extends { tar: Readable | null }>(pack: TarPack, sources: ReadonlyArray<T>, change: (source: T, h: TarEntry) => TarHeader | null) => {
  let next = 0;
  try {
    for (; next < sources.length; next++) {
      const source = sources[next]!;
      if (source.tar) await copyEntries(source.tar, pack, (h) => change(source, h));
    }
  } catch (e) {
    for (const s of sources.slice(next)) s.tar?.destroy();
    throw e;
  }
};

/**
 * A cached file's name in the archive: under home as `~/…`, so the cache restores into the home of
 * whichever job takes it (another image's user, a machine task's own directory); elsewhere absolute
 * less the leading `/`.
 */
export const cacheEntryName = (home: string, path: string): string => {
  const inHome = posix.relative(home, path);
  if (path === home) return '~';
  return inHome && !inHome.startsWith('..') && !posix.isAbsolute(inHome) ? `~/${inHome}` : path.replace(/^\/+/, '');
};
/** A cached entry's name relative to home (`.` for home itself); null for an entry that goes back under `/`. */
export const cacheHomeName = (name: string): string | null => (name === '~' ? '.' : name.startsWith('~/') ? name.slice(2) : null);

/**
 * A key as rendered, secrets masked: `{{ .Environment.X }}` may hold one, and keys go into events and
 * the audit log. The masked key is the one saved and looked up, so two values of a secret give one key.
 */
const renderKey = (template: string, context: CacheKeyContext, c: FileStepContext) => {
  const key = renderCacheKey(template, context);
  return isCacheKeyProblem(key) ? key : createTextMasker(c.assignment.secrets)(key);
};

const saveCache = async (s: Extract<FileStep, { type: 'save_cache' }>, c: FileStepContext): Promise<FileStepEnd> => {
  const key = renderKey(s.key, await keyContext(c, [s.key]), c);
  if (isCacheKeyProblem(key)) throw new StepFailure(`error computing cache key: ${key.message}`);
  if (await calling('Gyre could not say whether the cache exists', () => c.channel.cacheExists(c.agentId, c.step, key))) {
    c.out.line(`Skipping cache generation, cache already exists for key: ${key}`);
    return succeeded;
  }
  c.out.line('Creating cache archive...');
  const paths = s.paths.map((p) => ({ path: c.resolve(p) }));
  const sources = await openArchives(c, paths);
  for (const missing of sources.filter((x) => !x.tar)) c.out.line(`Warning: could not archive ${missing.path} - Not found`);
  const made = writeTar(
    (pack) => copyAll(pack, sources, (source, h) => renamed(h, (name) => cacheEntryName(c.env.home, posix.join(posix.dirname(source.path), name)))),
    { gzip: true },
  );
  c.out.line('Uploading cache archive...');
  const saved = await calling('the cache could not be saved', () =>
    handOver(made, (body) => stopping(c.signal, body, () => c.channel.saveCache(c.agentId, c.step, key, body))),
  );
  if (!saved.saved) {
    c.out.line(`Skipping cache generation, cache already exists for key: ${key}`);
    return succeeded;
  }
  c.out.line(`Stored Cache to ${saved.key}`);
  for (const p of paths) c.out.line(`  * ${p.path}`);
  c.out.line(`Total size uploaded: ${formatBytes(saved.bytes)}`);
  return succeeded;
};

const restoreCache = async (s: Extract<FileStep, { type: 'restore_cache' }>, c: FileStepContext): Promise<FileStepEnd> => {
  const context = await keyContext(c, s.keys);
  const keys: string[] = [];
  for (const template of s.keys) {
    const key = renderKey(template, context, c);
    if (isCacheKeyProblem(key)) c.out.line(`Warning: skipping the key ${template}: ${key.message}`);
    else keys.push(key);
  }
  if (!keys.length) {
    c.out.line('No cache is found: none of the keys could be rendered');
    return succeeded;
  }
  const found = await calling('Gyre could not look the cache up', () => c.channel.findCache(c.agentId, c.step, keys));
  if (!found) {
    for (const key of keys) c.out.line(`No cache is found for key: ${key}`);
    return succeeded;
  }
  c.out.line(`Found a cache at ${found.key}`);
  c.out.line(`Size: ${formatBytes(found.bytes)}`);
  c.out.line('Downloading cache archive...');
  const body = await calling('the cache could not be downloaded', () => c.channel.readCache(c.agentId, c.step, found.cacheId));
  c.out.line('Unarchiving cache...');
  const unzipped = createGunzip();
  const unzipping = pipeline(body, unzipped);
  // what goes under home is unpacked at home itself, not at `/` through the path to it: an extract
  // refuses to write past a symlink, and the path to home may hold one (macOS /var, a linked data directory)
  const placed = splitEntries(unzipped, ['home', 'root'], (h) =>
    cacheHomeName(entryName(h)) === null ? { to: 'root', header: h } : { to: 'home', header: renamed(h, (name) => cacheHomeName(name) ?? name) },
  );
  try {
    await stopping(c.signal, unzipped, () =>
      Promise.all([handOver(placed.home, (tar) => c.env.extract(tar, c.env.home)), handOver(placed.root, (tar) => c.env.extract(tar, '/')), unzipping]),
    );
  } catch (e) {
    body.destroy();
    unzipped.destroy();
    throw new StepFailure(`the cache ${found.key} could not be restored: ${message(e)}`);
  }
  return succeeded;
};

/** A workspace entry's name relative to root, from the archive of `prefix` (under root; `` for root itself). */
const relativeTo = (prefix: string, name: string): string => {
  if (!prefix) return under(name);
  const parent = posix.dirname(prefix);
  return parent === '.' ? name : `${parent}/${name}`;
};

const persistToWorkspace = async (s: Extract<FileStep, { type: 'persist_to_workspace' }>, c: FileStepContext): Promise<FileStepEnd> => {
  const problem = workspaceRootProblem(s.root) ?? s.paths.map(workspacePathProblem).find((p) => p !== null);
  if (problem) throw new StepFailure(problem);
  const root = c.resolve(s.root);
  const noMatch = (paths: ReadonlyArray<string>) =>
    new StepFailure(`The specified paths did not match any files in ${root}: ${paths.join(', ')} (workspace paths are relative to root)`);
  // each path is read from the directory it cannot reach outside of, and that only once
  const prefixes = [...new Set(s.paths.map(workspacePrefix))].sort((a, b) => a.length - b.length);
  const outermost = prefixes.filter((p, i) => !prefixes.slice(0, i).some((q) => q === '' || p.startsWith(`${q}/`)));
  const sources = await openArchives(
    c,
    outermost.map((prefix) => ({ prefix, path: prefix ? `${root}/${prefix}` : root })),
  );
  const inMissing = (path: string) => sources.some((x) => !x.tar && (x.prefix === '' || `${workspacePrefix(path)}/`.startsWith(`${x.prefix}/`)));
  const unreachable = s.paths.filter(inMissing);
  if (unreachable.length) {
    for (const x of sources) x.tar?.destroy();
    throw noMatch(unreachable);
  }
  c.out.line('Creating workspace archive...');
  const matched = new Set<string>();
  const made = writeTar(async (pack) => {
    await copyAll(pack, sources, (source, h) => {
      const relative = relativeTo(source.prefix, entryName(h));
      if (!relative) return null;
      const takers = s.paths.filter((p) => workspaceSelects(p, relative));
      if (!takers.length) return null;
      for (const p of takers) matched.add(p);
      return renamed(h, (name) => relativeTo(source.prefix, name));
    });
    // the upload fails with this, so no layer is kept
    const unmatched = s.paths.filter((p) => !matched.has(p));
    if (unmatched.length) throw noMatch(unmatched);
  });
  c.out.line('Uploading workspace archive...');
  const layer = await calling('the workspace layer could not be stored', () =>
    handOver(made, (body) => stopping(c.signal, body, () => c.channel.persistWorkspace(c.agentId, c.step, body))),
  );
  c.out.line(`Total size uploaded: ${formatBytes(layer.bytes)} (${layer.files} file${layer.files === 1 ? '' : 's'})`);
  return succeeded;
};

const attachWorkspace = async (s: Extract<FileStep, { type: 'attach_workspace' }>, c: FileStepContext): Promise<FileStepEnd> => {
  const at = c.resolve(s.at);
  const layers = await calling('Gyre could not list the workspace layers', () => c.channel.workspaceLayers(c.agentId, c.step));
  if (!layers.length) {
    c.out.line('No workspace layers to attach: no job upstream of this one persisted to the workspace');
    return succeeded;
  }
  c.out.line('Downloading workspace layers');
  for (const l of layers) c.out.line(`  ${l.job} - ${formatBytes(l.bytes)}`);
  c.out.line(`Applying workspace layers at ${at}`);
  for (const l of layers) {
    c.out.line(`  ${l.job}`);
    const body = await calling(`the workspace layer of ${l.job} could not be downloaded`, () => c.channel.readWorkspaceLayer(c.agentId, c.step, l.layerId));
    try {
      await stopping(c.signal, body, () => c.env.extract(body, at));
    } catch (e) {
      body.destroy();
      throw new StepFailure(`Error applying workspace layer for job ${l.job}: ${message(e)}`);
    }
  }
  return succeeded;
};

/** Runs one file step to its end; a lost lease is thrown, any other failure is a failed step saying why. */
export const runFileStep = async (s: FileStep, c: FileStepContext): Promise<FileStepEnd> => {
  try {
    switch (s.type) {
      case 'store_artifacts':
        return await storeArtifacts(s, c);
      case 'store_test_results':
        return await storeTestResults(s, c);
      case 'save_cache':
        return await saveCache(s, c);
      case 'restore_cache':
        return await restoreCache(s, c);
      case 'persist_to_workspace':
        return await persistToWorkspace(s, c);
      case 'attach_workspace':
        return await attachWorkspace(s, c);
    }
  } catch (e) {
    if (e instanceof StepFailure) return { status: 'failed', exitCode: null, reason: e.message };
    throw e;
  }
};
