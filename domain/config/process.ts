import { bindParameters, failAt, readDeclarations, substitute, unescapeLiterals, type Fail, type Lookup } from './parameters.ts';
import { defaultConfigLimits, largerThan, megabytes, type ConfigLimits } from './limits.ts';
import { toYaml, type ProcessedConfig } from './processed.ts';
import { problemCollector, type ConfigProblem, type Path } from './problems.ts';
import { configScope, orbsUsed, type ResolveOrb } from './scopes.ts';
import { parseSource } from './source.ts';
import { isRecord } from './values.ts';
import { processWorkflows } from './workflows.ts';

// what callers outside domain/config use of processing, from this one module
export type { ProcessedConfig, ProcessedJob, ProcessedWorkflow, WorkflowJob } from './processed.ts';
export type { ResolvedOrb, ResolveOrb } from './scopes.ts';
export { defaultConfigLimits, type ConfigLimits } from './limits.ts';

export interface ProcessOptions {
  readonly file?: string;
  /** Values for the config's `parameters` (pipeline parameters). */
  readonly pipelineParameters?: Readonly<Record<string, unknown>>;
  /** `git.branch`, `git.tag`, `git.revision`, `number`, `id`, `project.git_url`, … without the `pipeline.` prefix. */
  readonly pipelineValues?: Readonly<Record<string, unknown>>;
  readonly resolveOrb: ResolveOrb;
  /** How far processing may multiply the config; CircleCI's own limits unless given. */
  readonly limits?: ConfigLimits;
}

export type ProcessResult =
  | { readonly valid: true; readonly config: ProcessedConfig; readonly yaml: string; readonly orbs: ReadonlyArray<string>; readonly problems: readonly [] }
  | { readonly valid: false; readonly problems: ReadonlyArray<ConfigProblem> };

const pipelineNamespaces = [
  'pipeline.id',
  'pipeline.number',
  'pipeline.name',
  'pipeline.project.',
  'pipeline.git.',
  'pipeline.trigger_source',
  'pipeline.trigger.',
  'pipeline.schedule.',
  'pipeline.trigger_parameters.',
  'pipeline.event.',
  'pipeline.deploy.',
  'pipeline.config.',
];

/** Substitutes `<< pipeline.parameters.* >>` (the config's parameters, bound to the values given) and `<< pipeline.* >>` values. */
const pipelineSubstitution = (declarations: unknown, options: ProcessOptions, fail: Fail) => {
  const declared = readDeclarations(declarations, ['parameters'], fail);
  const bound = bindParameters(declared, (options.pipelineParameters ?? {}) as Record<string, unknown>, ['parameters'], fail, 'this config');
  const values = options.pipelineValues ?? {};
  const lookup: Lookup = (name) => {
    if (name.startsWith('pipeline.parameters.')) {
      const k = name.slice('pipeline.parameters.'.length);
      return bound.has(k) ? { found: true, value: bound.get(k) } : { found: false };
    }
    const k = name.slice('pipeline.'.length);
    if (Object.hasOwn(values, k)) return { found: true, value: values[k] };
    return pipelineNamespaces.some((n) => name === n || (n.endsWith('.') && name.startsWith(n))) ? { found: true, value: '' } : { found: false };
  };
  return (v: unknown, at: Path) => substitute(v, (n) => n.startsWith('pipeline.'), lookup, at, fail);
};

const tooLarge = (limits: ConfigLimits) =>
  `the processed config is larger than ${megabytes(limits.processedBytes)} (the limit of a processed config's size): do large parameters repeat in many steps?`;

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
  const fail: Fail = failAt(file, (p) => source.lineOf(p));
  const { problems, attempt } = problemCollector();
  const limits = options.limits ?? defaultConfigLimits;

  const result = attempt(() => {
    const raw = source.value;
    if (!isRecord(raw)) fail([], 'a config is a map with version, jobs and workflows');
    const version = String(raw.version ?? '');
    if (!['2', '2.0', '2.1'].includes(version))
      fail(['version'], raw.version === undefined ? 'version is missing: use 2.1' : `version ${JSON.stringify(raw.version)} is not supported: use 2 or 2.1`);
    const modern = version === '2.1';
    if (!modern) for (const k of ['orbs', 'commands', 'executors', 'parameters']) if (raw[k] !== undefined) fail([k], `${k} needs version 2.1`);
    // top-level keys other than version, jobs, workflows, orbs, commands, executors, parameters and
    // setup hold YAML anchors (defaults:, aliases:, references:) and are left out

    // pipeline parameters and values, substituted first: orb versions and when-conditions use them
    const withPipeline = pipelineSubstitution(raw.parameters, options, fail);
    const config = withPipeline(Object.fromEntries(Object.entries(raw).filter(([k]) => k !== 'parameters')), []) as Record<string, unknown>;
    const root = configScope(config, file, fail, options.resolveOrb);
    const { jobs, workflows } = processWorkflows({ root, modern, counted: { steps: 0 }, limits }, config.workflows, attempt);
    const processed = unescapeLiterals(withPipeline({ setup: config.setup === true, jobs, workflows }, [])) as ProcessedConfig;
    if (problems.length) return undefined;
    // measured before it is written: a large string used in many steps would make a YAML of gigabytes
    if (largerThan(processed, limits.processedBytes)) fail([], tooLarge(limits));
    const yaml = toYaml(processed);
    if (yaml.length > limits.processedBytes) fail([], tooLarge(limits));
    return { processed, yaml, orbs: orbsUsed(root) };
  });

  if (!result || problems.length) return { valid: false, problems };
  return { valid: true, config: result.processed, yaml: result.yaml, orbs: result.orbs, problems: [] };
};
