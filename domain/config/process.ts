import { isDeepStrictEqual } from 'node:util';
import { stringify } from 'yaml';
import { parseOrbRef, type OrbRef } from '../orbs/orb-ref.ts';
import { readFilters } from './filters.ts';
import { evaluate } from './logic.ts';
import { bindParameters, failAt, readDeclarations, substitute, unescape, type Fail, type Lookup } from './parameters.ts';
import { ProblemError, type ConfigProblem, type Path } from './problems.ts';
import { parseSource } from './source.ts';
import { builtinSteps, dockerImageKeys, executorKeys, jobKeys, workflowJobKeys } from './steps.ts';
import { isRecord } from './values.ts';

/** An orb version as the registry holds it: `resolved` names the exact release a reference meant. */
export interface ResolvedOrb {
  readonly resolved: string;
  readonly source: string;
}

export interface ProcessOptions {
  readonly file?: string;
  /** Values for the config's `parameters` (pipeline parameters). */
  readonly pipelineParameters?: Readonly<Record<string, unknown>>;
  /** `git.branch`, `git.tag`, `git.revision`, `number`, `id`, `project.git_url`, … without the `pipeline.` prefix. */
  readonly pipelineValues?: Readonly<Record<string, unknown>>;
  /** Looks an orb reference up in the registry: a version, or why there is none. */
  readonly resolveOrb: (ref: OrbRef) => ResolvedOrb | { readonly error: string };
}

export interface ProcessedJob {
  readonly steps: ReadonlyArray<unknown>;
  readonly [key: string]: unknown;
}
export interface WorkflowJob {
  readonly name: string;
  readonly type?: 'approval';
  readonly requires: ReadonlyArray<string>;
  readonly context: ReadonlyArray<string>;
  readonly filters?: unknown;
}
export interface ProcessedWorkflow {
  readonly jobs: ReadonlyArray<WorkflowJob>;
  readonly triggers?: unknown;
}
export interface ProcessedConfig {
  readonly setup: boolean;
  readonly jobs: Readonly<Record<string, ProcessedJob>>;
  readonly workflows: Readonly<Record<string, ProcessedWorkflow>>;
}

export type ProcessResult =
  | { readonly valid: true; readonly config: ProcessedConfig; readonly yaml: string; readonly orbs: ReadonlyArray<string>; readonly problems: readonly [] }
  | { readonly valid: false; readonly problems: ReadonlyArray<ConfigProblem> };

interface Scope {
  readonly file: string;
  readonly fail: Fail;
  readonly jobs: Record<string, unknown>;
  readonly commands: Record<string, unknown>;
  readonly executors: Record<string, unknown>;
  readonly orbs: Map<string, Scope>;
}
type Found = { def: unknown; scope: Scope; path: Path };

const pipelineNamespaces = ['pipeline.id', 'pipeline.number', 'pipeline.name', 'pipeline.project.', 'pipeline.git.', 'pipeline.trigger_source', 'pipeline.trigger.', 'pipeline.schedule.', 'pipeline.trigger_parameters.', 'pipeline.event.', 'pipeline.deploy.', 'pipeline.config.'];
const maxDepth = 50;
/** Commands that each call others many times can multiply a small file into millions of steps. */
const maxSteps = 100_000;

/**
 * Processes `.circleci/config.yml` (versions 2 and 2.1) as `circleci config process` does: orbs
 * resolved and expanded, executors and commands inlined, parameters substituted, `when`/`unless`
 * decided, matrices unrolled. It never throws on bad input: problems come back, each naming the
 * file, line and key at fault.
 */
export const processConfig = (text: string, options: ProcessOptions): ProcessResult => {
  const file = options.file ?? '.circleci/config.yml';
  const parsed = parseSource(text, file);
  if (!parsed.source) return { valid: false, problems: parsed.problems };
  const source = parsed.source;
  const problems: ConfigProblem[] = [];
  const fail: Fail = failAt(file, (p) => source.lineOf(p));
  /** Runs one part of the work; its problem is kept and the rest goes on. */
  const attempt = <T>(work: () => T): T | undefined => {
    try {
      return work();
    } catch (e) {
      if (!(e instanceof ProblemError)) throw e;
      problems.push(e.problem);
      return undefined;
    }
  };
  const orbsUsed = new Set<string>();

  const result = attempt(() => {
    const raw = source.value;
    if (!isRecord(raw)) fail([], 'a config is a map with version, jobs and workflows');
    const version = String(raw.version ?? '');
    if (!['2', '2.0', '2.1'].includes(version)) fail(['version'], raw.version === undefined ? 'version is missing: use 2.1' : `version ${JSON.stringify(raw.version)} is not supported: use 2 or 2.1`);
    const modern = version === '2.1';
    if (!modern) for (const k of ['orbs', 'commands', 'executors', 'parameters']) if (raw[k] !== undefined) fail([k], `${k} needs version 2.1`);
    // top-level keys other than version, jobs, workflows, orbs, commands, executors, parameters and
    // setup hold YAML anchors (defaults:, aliases:, references:) and are left out

    // pipeline parameters and values, substituted first: orb versions and when-conditions use them
    const declared = readDeclarations(raw.parameters, ['parameters'], fail);
    const given = options.pipelineParameters ?? {};
    const bound = bindParameters(declared, given as Record<string, unknown>, ['parameters'], fail, 'this config');
    const values = options.pipelineValues ?? {};
    const pipelineLookup: Lookup = (name) => {
      if (name.startsWith('pipeline.parameters.')) {
        const k = name.slice('pipeline.parameters.'.length);
        return bound.has(k) ? { found: true, value: bound.get(k) } : { found: false };
      }
      const k = name.slice('pipeline.'.length);
      if (Object.hasOwn(values, k)) return { found: true, value: values[k] };
      return pipelineNamespaces.some((n) => name === n || (n.endsWith('.') && name.startsWith(n))) ? { found: true, value: '' } : { found: false };
    };
    const withPipeline = (v: unknown, at: Path, f: Fail) => substitute(v, (n) => n.startsWith('pipeline.'), pipelineLookup, at, f);
    const config = withPipeline(Object.fromEntries(Object.entries(raw).filter(([k]) => k !== 'parameters')), [], fail) as Record<string, unknown>;

    const section = (value: unknown, key: string, f: Fail, base: Path): Record<string, unknown> => {
      if (value === undefined || value === null) return {};
      if (!isRecord(value)) f([...base, key], `${key} must be a map of names to definitions`);
      return value as Record<string, unknown>;
    };

    /** An orb: from the registry by reference, or defined inline under `orbs:`. */
    const orbScope = (alias: string, rawOrb: unknown, at: Path, parent: Scope, depth: number, seen: ReadonlySet<string>): Scope => {
      if (depth > 10) parent.fail(at, 'orbs import each other more than 10 deep');
      let def: unknown;
      let orbFail: Fail;
      let orbFile: string;
      if (typeof rawOrb === 'string') {
        const ref = parseOrbRef(rawOrb);
        if ('error' in ref) return parent.fail(at, ref.error);
        const found = options.resolveOrb(ref);
        if ('error' in found) return parent.fail(at, found.error);
        if (seen.has(found.resolved)) parent.fail(at, `orb ${found.resolved} imports itself`);
        orbsUsed.add(found.resolved);
        const orbSource = parseSource(found.source, `orb ${found.resolved}`);
        if (!orbSource.source) throw new ProblemError(orbSource.problems[0]!);
        def = orbSource.source.value;
        orbFile = orbSource.source.file;
        orbFail = failAt(orbFile, (p) => orbSource.source!.lineOf(p));
        seen = new Set([...seen, found.resolved]);
      } else if (isRecord(rawOrb)) {
        def = rawOrb;
        orbFile = parent.file;
        orbFail = (p, m) => parent.fail([...at, ...p], m);
      } else {
        return parent.fail(at, `orb ${alias} must be a reference (namespace/orb@version) or an inline orb`);
      }
      if (!isRecord(def)) return orbFail([], 'an orb is a map of commands, jobs and executors');
      const scope: Scope = {
        file: orbFile,
        fail: orbFail,
        jobs: section(def.jobs, 'jobs', orbFail, []),
        commands: section(def.commands, 'commands', orbFail, []),
        executors: section(def.executors, 'executors', orbFail, []),
        orbs: new Map(),
      };
      for (const [name, nested] of Object.entries(section(def.orbs, 'orbs', orbFail, []))) scope.orbs.set(name, orbScope(name, nested, ['orbs', name], scope, depth + 1, seen));
      return scope;
    };

    const root: Scope = {
      file,
      fail,
      jobs: section(config.jobs, 'jobs', fail, []),
      commands: section(config.commands, 'commands', fail, []),
      executors: section(config.executors, 'executors', fail, []),
      orbs: new Map(),
    };
    for (const [name, o] of Object.entries(section(config.orbs, 'orbs', fail, []))) root.orbs.set(name, orbScope(name, o, ['orbs', name], root, 0, new Set()));

    const find = (scope: Scope, kind: 'jobs' | 'commands' | 'executors', name: string): Found | undefined => {
      const slash = name.indexOf('/');
      if (slash > 0) {
        const orb = scope.orbs.get(name.slice(0, slash));
        return orb ? find(orb, kind, name.slice(slash + 1)) : undefined;
      }
      return Object.hasOwn(scope[kind], name) ? { def: scope[kind][name], scope, path: [kind, name] } : undefined;
    };
    /** Looks in the scope the text came from, then in the config (steps handed to an orb job are the config's). */
    const lookupAnywhere = (scope: Scope, kind: 'jobs' | 'commands' | 'executors', name: string) => find(scope, kind, name) ?? (scope === root ? undefined : find(root, kind, name));
    const missing = (kind: string, name: string, scope: Scope) => {
      const slash = name.indexOf('/');
      if (slash > 0 && !scope.orbs.has(name.slice(0, slash)) && !root.orbs.has(name.slice(0, slash))) return `${kind} ${name} needs an orb named ${name.slice(0, slash)}, and none is declared under orbs:`;
      return `${kind} ${name} is not defined`;
    };

    const instantiate = (found: Found, args: Record<string, unknown>, at: Path, caller: Scope, what: string) => {
      const { def, scope, path } = found;
      if (!isRecord(def)) return scope.fail(path, `${what} must be a map`);
      const params = readDeclarations(def.parameters, [...path, 'parameters'], scope.fail);
      const bound = bindParameters(params, args, at, caller.fail, what);
      const lookup: Lookup = (name) => {
        const k = name.slice('parameters.'.length);
        return bound.has(k) ? { found: true, value: bound.get(k) } : { found: false };
      };
      const body = Object.fromEntries(Object.entries(def).filter(([k]) => k !== 'parameters'));
      return { body: substitute(body, (n) => n.startsWith('parameters.'), lookup, path, scope.fail) as Record<string, unknown>, scope, path };
    };

    const executorOf = (rawExecutor: unknown, at: Path, scope: Scope): Record<string, unknown> => {
      const [name, args] = typeof rawExecutor === 'string' ? [rawExecutor, {}] : isRecord(rawExecutor) && typeof rawExecutor.name === 'string' ? [rawExecutor.name, Object.fromEntries(Object.entries(rawExecutor).filter(([k]) => k !== 'name'))] : [undefined, {}];
      if (!name) return scope.fail(at, 'executor is a name, or a map with name and its parameters');
      const found = lookupAnywhere(scope, 'executors', name);
      if (!found) return scope.fail(at, missing('executor', name, scope));
      const e = instantiate(found, args, at, scope, `executor ${name}`);
      for (const k of Object.keys(e.body)) if (!executorKeys.includes(k)) e.scope.fail([...e.path, k], `unknown key ${k} in executor ${name}`);
      const { description: _, ...rest } = e.body;
      return rest;
    };

    const checkDocker = (docker: unknown, at: Path, scope: Scope) => {
      if (!Array.isArray(docker) || docker.length === 0) scope.fail(at, 'docker is a list of images, the first the primary container');
      (docker as unknown[]).forEach((image, i) => {
        if (!isRecord(image) || typeof image.image !== 'string') return scope.fail([...at, i], 'each docker entry needs an image');
        // version 2.0 configs were never checked this closely, and CircleCI still runs them
        if (!modern) return;
        for (const k of Object.keys(image)) if (!dockerImageKeys.includes(k)) scope.fail([...at, i, k], `unknown key ${k} in a docker image (it takes ${dockerImageKeys.join(', ')})`);
        if (image.auth !== undefined && (!isRecord(image.auth) || typeof image.auth.username !== 'string' || image.auth.password === undefined)) scope.fail([...at, i, 'auth'], 'auth takes username and password');
        if (image.aws_auth !== undefined && (!isRecord(image.aws_auth) || (image.aws_auth.oidc_role_arn === undefined && (image.aws_auth.aws_access_key_id === undefined || image.aws_auth.aws_secret_access_key === undefined)))) {
          scope.fail([...at, i, 'aws_auth'], 'aws_auth takes aws_access_key_id and aws_secret_access_key, or oidc_role_arn');
        }
      });
    };

    const required: Record<string, string[][]> = { run: [['command']], deploy: [['command']], save_cache: [['key'], ['paths']], restore_cache: [['key', 'keys']], store_artifacts: [['path']], store_test_results: [['path']], persist_to_workspace: [['root'], ['paths']], attach_workspace: [['at']], add_ssh_keys: [] };

    let expanded = 0;
    const expandSteps = (rawSteps: unknown, at: Path, scope: Scope, depth: number): unknown[] => {
      if (rawSteps === undefined || rawSteps === null) return [];
      expanded += Array.isArray(rawSteps) ? rawSteps.length : 0;
      if (expanded > maxSteps) scope.fail(at, `the config expands to more than ${maxSteps} steps: do commands call each other in a loop?`);
      if (!Array.isArray(rawSteps)) return scope.fail(at, 'steps must be a list');
      const out: unknown[] = [];
      rawSteps.forEach((step, i) => {
        const p = [...at, i];
        if (Array.isArray(step)) {
          out.push(...expandSteps(step, p, scope, depth));
          return;
        }
        let name: string;
        let args: unknown;
        if (typeof step === 'string') [name, args] = [step, undefined];
        else if (isRecord(step)) {
          const keys = Object.keys(step);
          if (keys.length !== 1) scope.fail(p, `a step is one name with its arguments, not ${keys.length ? keys.join(', ') : 'an empty map'}`);
          [name, args] = [keys[0]!, step[keys[0]!]];
        } else return scope.fail(p, 'a step is a name, or a map of one name to its arguments');
        if (name === 'when' || name === 'unless') {
          if (!isRecord(args) || !('condition' in args)) scope.fail([...p, name], `${name} takes condition and steps`);
          const holds = evaluate((args as Record<string, unknown>).condition, [...p, name, 'condition'], scope.fail);
          if (holds === (name === 'when')) out.push(...expandSteps((args as Record<string, unknown>).steps, [...p, name, 'steps'], scope, depth));
          return;
        }
        // `steps: << parameters.steps >>` splices a list of steps in place
        if (name === 'steps') {
          out.push(...expandSteps(args, [...p, name], scope, depth));
          return;
        }
        // CircleCI 2.0 took the built-in steps' names with dashes too (store-test-results)
        if (!builtinSteps[name] && builtinSteps[name.replace(/-/g, '_')]) name = name.replace(/-/g, '_');
        const builtin = builtinSteps[name];
        if (builtin) {
          if (args === undefined || args === null) {
            if (modern && (required[name] ?? []).length) scope.fail([...p, name], `${name} needs ${required[name]!.map((r) => r.join(' or ')).join(' and ')}`);
            out.push(name);
            return;
          }
          if ((name === 'run' || name === 'deploy') && typeof args === 'string') {
            out.push({ [name]: { command: args } });
            return;
          }
          if (!isRecord(args)) return scope.fail([...p, name], `${name} takes a map of ${builtin.join(', ')}`);
          if (modern) {
            for (const k of Object.keys(args)) if (!builtin.includes(k)) scope.fail([...p, name, k], `unknown key ${k} in a ${name} step (it takes ${builtin.join(', ')})`);
            for (const need of required[name] ?? []) if (!need.some((k) => args[k] !== undefined)) scope.fail([...p, name], `${name} needs ${need.join(' or ')}`);
          }
          out.push({ [name]: args });
          return;
        }
        const found = lookupAnywhere(scope, 'commands', name);
        if (!found) return scope.fail(p, `unknown step ${name}: neither a built-in step nor a command (${missing('command', name, scope)})`);
        if (depth > maxDepth) scope.fail(p, `commands call each other more than ${maxDepth} deep: does ${name} call itself?`);
        if (args !== undefined && args !== null && !isRecord(args)) scope.fail([...p, name], `command ${name} takes a map of parameters`);
        const c = instantiate(found, (args ?? {}) as Record<string, unknown>, [...p, name], scope, `command ${name}`);
        for (const k of Object.keys(c.body)) if (k !== 'steps' && k !== 'description') c.scope.fail([...c.path, k], `unknown key ${k} in command ${name}`);
        out.push(...expandSteps(c.body.steps, [...c.path, 'steps'], c.scope, depth + 1));
      });
      return out;
    };

    const expandJob = (ref: string, args: Record<string, unknown>, at: Path, extra: { pre: unknown[]; post: unknown[] }): ProcessedJob => {
      const found = find(root, 'jobs', ref);
      if (!found) return fail(at, missing('job', ref, root));
      const j = instantiate(found, args, at, root, `job ${ref}`);
      for (const k of Object.keys(j.body)) if (!jobKeys.includes(k)) j.scope.fail([...j.path, k], `unknown key ${k} in job ${ref}`);
      const { executor, description: _, ...own } = j.body;
      const base = executor === undefined ? {} : executorOf(executor, [...j.path, 'executor'], j.scope);
      const job: Record<string, unknown> = { ...base, ...own };
      if (isRecord(base.environment) || isRecord(own.environment)) job.environment = { ...(base.environment as object), ...(own.environment as object) };
      if (job.type !== undefined && !['build', 'no-op', 'approval'].includes(String(job.type))) j.scope.fail([...j.path, 'type'], `job type ${JSON.stringify(job.type)} is not one of build, no-op, approval`);
      // a no-op job (and an approval) runs nothing: it needs neither an executor nor steps
      if (job.type === 'no-op' || job.type === 'approval') return { ...job, steps: [] };
      if (!['docker', 'machine', 'macos', 'windows'].some((k) => job[k] !== undefined)) j.scope.fail(j.path, `job ${ref} has no executor: give it docker, machine, macos or executor`);
      if (job.docker !== undefined) checkDocker(job.docker, [...j.path, 'docker'], j.scope);
      const steps = expandSteps(j.body.steps, [...j.path, 'steps'], j.scope, 0);
      if (!Array.isArray(j.body.steps)) j.scope.fail([...j.path, 'steps'], `job ${ref} needs a list of steps`);
      return { ...job, steps: [...extra.pre, ...steps, ...extra.post] };
    };

    const jobs: Record<string, ProcessedJob> = {};
    const workflows: Record<string, ProcessedWorkflow> = {};
    const rawWorkflows = config.workflows === undefined ? (root.jobs.build !== undefined ? { workflow: { jobs: ['build'] } } : undefined) : config.workflows;
    if (rawWorkflows === undefined) fail([], 'no workflows, and no job named build to run without one');
    for (const [wfName, wf] of Object.entries(section(rawWorkflows, 'workflows', fail, []))) {
      if (wfName === 'version') continue;
      attempt(() => {
        const at: Path = ['workflows', wfName];
        if (!isRecord(wf)) fail(at, 'a workflow is a map with jobs');
        for (const k of Object.keys(wf)) if (!['jobs', 'triggers', 'when', 'unless', 'max_auto_reruns'].includes(k)) fail([...at, k], `unknown key ${k} in workflow ${wfName}`);
        if (wf.when !== undefined && !evaluate(wf.when, [...at, 'when'], fail)) return;
        if (wf.unless !== undefined && evaluate(wf.unless, [...at, 'unless'], fail)) return;
        if (!Array.isArray(wf.jobs) || wf.jobs.length === 0) fail([...at, 'jobs'], `workflow ${wfName} needs a list of jobs`);
        const entries: Array<{ job: WorkflowJob; at: Path; rawRequires: string[] }> = [];
        const aliases = new Map<string, string[]>();
        (wf.jobs as unknown[]).forEach((entry, i) => {
          attempt(() => {
            const p: Path = [...at, 'jobs', i];
            const [ref, cfgRaw]: [string | undefined, unknown] = typeof entry === 'string' ? [entry, {}] : isRecord(entry) && Object.keys(entry).length === 1 ? [Object.keys(entry)[0]!, Object.values(entry)[0] ?? {}] : [undefined, undefined];
            if (ref === undefined || !isRecord(cfgRaw)) return fail(p, 'a workflow job is a job name, or a map of one job name to its settings');
            const jp: Path = typeof entry === 'string' ? p : [...p, ref];
            const matrix = cfgRaw.matrix;
            const combos: Array<Record<string, unknown>> = [{}];
            if (matrix !== undefined) {
              if (!isRecord(matrix) || !isRecord(matrix.parameters)) fail([...jp, 'matrix'], 'matrix takes parameters: {name: [values]}');
              const m = matrix as { parameters: Record<string, unknown>; exclude?: unknown; alias?: unknown };
              combos.length = 0;
              let acc: Array<Record<string, unknown>> = [{}];
              for (const [k, vs] of Object.entries(m.parameters)) {
                if (!Array.isArray(vs) || vs.length === 0) fail([...jp, 'matrix', 'parameters', k], 'a matrix parameter takes a list of values');
                acc = acc.flatMap((c) => (vs as unknown[]).map((v) => ({ ...c, [k]: v })));
              }
              const exclude = m.exclude === undefined ? [] : Array.isArray(m.exclude) ? m.exclude : fail([...jp, 'matrix', 'exclude'], 'exclude takes a list of parameter maps');
              combos.push(...acc.filter((c) => !(exclude as unknown[]).some((x) => isDeepStrictEqual(x, c))));
            }
            const alias = isRecord(matrix) && typeof matrix.alias === 'string' ? matrix.alias : typeof cfgRaw.name === 'string' && matrix === undefined ? cfgRaw.name : ref;
            for (const combo of combos) {
              const cfg = matrix === undefined ? cfgRaw : (substitute(Object.fromEntries(Object.entries(cfgRaw).filter(([k]) => k !== 'matrix')), (n) => n.startsWith('matrix.'), (n) => (Object.hasOwn(combo, n.slice(7)) ? { found: true, value: combo[n.slice(7)] } : { found: false }), jp, fail) as Record<string, unknown>);
              const args = { ...Object.fromEntries(Object.entries(cfg).filter(([k]) => !workflowJobKeys.includes(k))), ...combo };
              const name = typeof cfg.name === 'string' ? cfg.name : matrix === undefined ? ref : `${ref}-${Object.keys(combo).sort().map((k) => String(combo[k])).join('-')}`;
              const requires = cfg.requires === undefined ? [] : Array.isArray(cfg.requires) ? cfg.requires.map(String) : fail([...jp, 'requires'], 'requires takes a list of job names');
              const context = cfg.context === undefined ? [] : Array.isArray(cfg.context) ? cfg.context.map(String) : typeof cfg.context === 'string' ? [cfg.context] : fail([...jp, 'context'], 'context is a name or a list of names');
              const filters = readFilters(cfg.filters, [...jp, 'filters'], fail);
              if (cfg.type !== undefined && cfg.type !== 'approval') fail([...jp, 'type'], `type ${JSON.stringify(cfg.type)} is not a job type: the only one is approval`);
              if (cfg.type !== 'approval') {
                const pre = expandSteps(cfg['pre-steps'], [...jp, 'pre-steps'], root, 0);
                const post = expandSteps(cfg['post-steps'], [...jp, 'post-steps'], root, 0);
                const job = expandJob(ref, args, jp, { pre, post });
                if (jobs[name] !== undefined && !isDeepStrictEqual(jobs[name], job)) fail(jp, `two different jobs are named ${name}: give one of them another name:`);
                jobs[name] = job;
              }
              if (entries.some((e) => e.job.name === name)) fail(jp, `workflow ${wfName} has two jobs named ${name}: give one of them another name:`);
              entries.push({ job: { name, ...(cfg.type === 'approval' ? { type: 'approval' as const } : {}), requires: [], context, ...(filters ? { filters } : {}) }, at: jp, rawRequires: requires });
              aliases.set(alias, [...(aliases.get(alias) ?? []), name]);
            }
          });
        });
        const names = new Set(entries.map((e) => e.job.name));
        // a requirement that names no job of the workflow is kept: like one filtered out, it is
        // ignored when the workflow runs, and a job all of whose requirements are missing does not run
        const resolved = entries.map((e) => {
          const requires = e.rawRequires.flatMap((r) => (names.has(r) ? [r] : (aliases.get(r) ?? [r])));
          return { ...e.job, requires: [...new Set(requires)] };
        });
        // a cycle in requires would hold every job in it forever
        const byName = new Map(resolved.map((j) => [j.name, j]));
        const state = new Map<string, 'visiting' | 'done'>();
        const visit = (n: string, trail: string[]) => {
          if (state.get(n) === 'done') return;
          if (state.get(n) === 'visiting') fail([...at, 'jobs'], `the requires of workflow ${wfName} form a cycle: ${[...trail.slice(trail.indexOf(n)), n].join(' → ')}`);
          state.set(n, 'visiting');
          for (const r of byName.get(n)!.requires) if (byName.has(r)) visit(r, [...trail, n]);
          state.set(n, 'done');
        };
        for (const j of resolved) visit(j.name, []);
        workflows[wfName] = { jobs: resolved, ...(wf.triggers !== undefined ? { triggers: wf.triggers } : {}) };
      });
    }
    const processed = unescape(withPipeline({ setup: config.setup === true, jobs, workflows }, [], fail)) as ProcessedConfig;
    return processed;
  });

  if (!result || problems.length) return { valid: false, problems };
  return { valid: true, config: result, yaml: toYaml(result), orbs: [...orbsUsed].sort(), problems: [] };
};

/** The processed config in CircleCI's version 2 form, as `circleci config process` prints it. */
export const toYaml = (c: ProcessedConfig): string => {
  const workflows: Record<string, unknown> = { version: 2 };
  for (const [name, wf] of Object.entries(c.workflows)) {
    workflows[name] = {
      ...(wf.triggers !== undefined ? { triggers: wf.triggers } : {}),
      jobs: wf.jobs.map((j) => {
        const settings = { ...(j.type ? { type: j.type } : {}), ...(j.requires.length ? { requires: j.requires } : {}), ...(j.context.length ? { context: j.context } : {}), ...(j.filters ? { filters: j.filters } : {}) };
        return Object.keys(settings).length ? { [j.name]: settings } : j.name;
      }),
    };
  }
  return stringify({ version: 2, ...(c.setup ? { setup: true } : {}), jobs: c.jobs, workflows }, { lineWidth: 0, aliasDuplicateObjects: false });
};

