/**
 * CircleCI's cache keys (`save_cache.key`, `restore_cache.keys`): templates rendered where the job
 * runs, and the rule that picks a saved cache for a list of keys.
 *
 * Templates: `{{ .Branch }}`, `{{ .Revision }}`, `{{ .BuildNum }}`, `{{ .Environment.NAME }}`,
 * `{{ checksum "file" }}` (base64 SHA-256 of the file), `{{ epoch }}` (seconds since the Unix epoch),
 * `{{ arch }}` (OS and CPU). A variable the job does not have renders as Go templates render a
 * missing map key: `<no value>`.
 */

export interface CacheKeyContext {
  readonly branch: string;
  readonly revision: string;
  readonly buildNum: number;
  readonly environment: Readonly<Record<string, string>>;
  /** The checksum of a file where the job runs; null when there is no such file. */
  readonly checksum: (path: string) => string | null;
  /** Milliseconds since the Unix epoch. */
  readonly now: () => number;
  readonly arch: string;
}

export interface CacheKeyProblem {
  readonly template: string;
  readonly message: string;
}

export const isCacheKeyProblem = (v: string | CacheKeyProblem): v is CacheKeyProblem => typeof v !== 'string';

const supported = '{{ .Branch }}, {{ .Revision }}, {{ .BuildNum }}, {{ .Environment.NAME }}, {{ checksum "file" }}, {{ epoch }}, {{ arch }}';
const noValue = '<no value>';

type Part =
  | { kind: 'text'; text: string }
  | { kind: 'branch' | 'revision' | 'buildNum' | 'epoch' | 'arch' }
  | { kind: 'env'; name: string }
  | { kind: 'checksum'; path: string };

/** The template cut into text and placeholders, or why it cannot be. */
const partsOf = (template: string): Part[] | CacheKeyProblem => {
  const parts: Part[] = [];
  let rest = template;
  while (rest) {
    const open = rest.indexOf('{{');
    if (open < 0) {
      if (rest.includes('}}')) return { template, message: `"}}" without a "{{" before it: write a placeholder as {{ .Branch }}` };
      parts.push({ kind: 'text', text: rest });
      break;
    }
    const close = rest.indexOf('}}', open + 2);
    if (close < 0) return { template, message: `"{{" is never closed: end the placeholder with "}}"` };
    if (open > 0) {
      if (rest.slice(0, open).includes('}}')) return { template, message: `"}}" without a "{{" before it: write a placeholder as {{ .Branch }}` };
      parts.push({ kind: 'text', text: rest.slice(0, open) });
    }
    const inner = rest.slice(open + 2, close).trim();
    let m: RegExpMatchArray | null;
    if (inner === '.Branch') parts.push({ kind: 'branch' });
    else if (inner === '.Revision') parts.push({ kind: 'revision' });
    else if (inner === '.BuildNum') parts.push({ kind: 'buildNum' });
    else if (inner === 'epoch') parts.push({ kind: 'epoch' });
    else if (inner === 'arch') parts.push({ kind: 'arch' });
    else if ((m = inner.match(/^\.Environment\.([A-Za-z_][A-Za-z0-9_]*)$/))) parts.push({ kind: 'env', name: m[1]! });
    else if ((m = inner.match(/^checksum\s+"((?:[^"\\]|\\.)+)"$/))) parts.push({ kind: 'checksum', path: m[1]!.replace(/\\(.)/g, '$1') });
    else return { template, message: `{{ ${inner} }} is not a cache key template Gyre knows: use one of ${supported}` };
    rest = rest.slice(close + 2);
  }
  return parts;
};

/** The files a template checksums, so a caller can read them before rendering; a problem when the template is not one. */
export const checksumPaths = (template: string): string[] | CacheKeyProblem => {
  const parts = partsOf(template);
  return Array.isArray(parts) ? [...new Set(parts.flatMap((p) => (p.kind === 'checksum' ? [p.path] : [])))] : parts;
};

/** The key a template names for this job, or why it cannot be rendered. */
export const renderCacheKey = (template: string, context: CacheKeyContext): string | CacheKeyProblem => {
  const parts = partsOf(template);
  if (!Array.isArray(parts)) return parts;
  let key = '';
  for (const p of parts) {
    switch (p.kind) {
      case 'text':
        key += p.text;
        break;
      case 'branch':
        key += context.branch;
        break;
      case 'revision':
        key += context.revision;
        break;
      case 'buildNum':
        key += String(context.buildNum);
        break;
      case 'epoch':
        key += String(Math.floor(context.now() / 1000));
        break;
      case 'arch':
        key += context.arch;
        break;
      case 'env':
        key += Object.hasOwn(context.environment, p.name) ? context.environment[p.name] : noValue;
        break;
      case 'checksum': {
        const sum = context.checksum(p.path);
        if (sum === null)
          return { template, message: `{{ checksum "${p.path}" }}: there is no file ${p.path} to checksum (paths are relative to the working directory)` };
        key += sum;
        break;
      }
    }
  }
  if (!key.trim()) return { template, message: 'the key is empty once rendered: give the cache a name' };
  return key;
};

/** Node's names for CPUs, as Go (and so CircleCI's `{{ arch }}`) names them. */
const goArch: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

/**
 * CircleCI's `{{ arch }}` for the machine a job runs on, `arch1-linux-amd64-6_85`: the OS, the CPU,
 * and its family and model where `/proc/cpuinfo` gives them (x86 does).
 */
export const cacheArch = (platform: string, cpu: string, cpuinfo: string | null): string => {
  const family = /^cpu family\s*:\s*(\d+)/m.exec(cpuinfo ?? '')?.[1];
  const model = /^model\s*:\s*(\d+)/m.exec(cpuinfo ?? '')?.[1];
  return `arch1-${platform}-${goArch[cpu] ?? cpu}${family && model ? `-${family}_${model}` : ''}`;
};

export interface SavedCache {
  readonly key: string;
  readonly createdAt: string | number | Date;
}

const time = (t: string | number | Date) => (t instanceof Date ? t.getTime() : typeof t === 'number' ? t : Date.parse(t));
const newest = <T extends SavedCache>(caches: T[]): T | null =>
  caches.reduce<T | null>((best, c) => (best === null || time(c.createdAt) > time(best.createdAt) ? c : best), null);

/**
 * The cache `restore_cache` restores: each key in order; a cache saved under exactly that key wins,
 * else the most recently saved cache whose key starts with it; the first key that finds one decides.
 * Null when none does. Empty keys are passed over (they would match every cache).
 */
export const pickCache = <T extends SavedCache>(keys: ReadonlyArray<string>, saved: ReadonlyArray<T>): T | null => {
  for (const key of keys) {
    if (!key) continue;
    const hit = newest(saved.filter((c) => c.key === key)) ?? newest(saved.filter((c) => c.key.startsWith(key)));
    if (hit) return hit;
  }
  return null;
};
