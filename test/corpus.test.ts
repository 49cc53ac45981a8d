// runs on the embedded database only: config processing is its subject, which runs in worker threads without the database
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { processConfig } from '../domain/config/process.ts';
import { planWorkflows } from '../domain/pipelines/planner.ts';
import { scheduledWorkflowsOf } from '../domain/schedules/scheduled-workflows.ts';
import { corpusDir } from './support/corpus.ts';
import { startTestGyre, type TestGyre } from './support/gyre.ts';

/**
 * The real world: every orb of ../shared/corpus/orbs published into Gyre's registry through the API,
 * then every real config of ../shared/corpus/circleci processed through the endpoint the circleci
 * CLI calls. Each processes, or fails only because the corpus lacks an orb version it names.
 */
const test = suite('corpus: real configs and real orbs');
const corpus = corpusDir();
const orbDir = join(corpus, 'orbs');
const configDir = join(corpus, 'circleci');
let g: TestGyre;

const publish = async (namespace: string, orb: string, version: string, source: string) => {
  const r = await g.gql('mutation($n: String!, $o: String!, $v: String!, $s: String!) { publishOrb(namespace: $n, orb: $o, version: $v, source: $s) { id } }', {
    n: namespace,
    o: orb,
    v: version,
    s: source,
  });
  assert.is(r.body.errors, undefined, `${namespace}/${orb}@${version}: ${JSON.stringify(r.body.errors)}`);
};
const compile = async (config: string) => {
  const res = await g.app.inject({
    method: 'POST',
    url: '/api/v2/compile-config-with-defaults',
    headers: { 'circle-token': g.adminToken },
    payload: { config_yaml: config, options: { pipeline_values: { 'pipeline.git.branch': 'main' } } },
  });
  assert.is(res.statusCode, 200);
  return res.json() as { valid: boolean; errors: Array<{ message: string }>; 'output-yaml': string };
};

test.before(async () => {
  g = await startTestGyre();
});
test.after(async () => g.stop());

test('the CLI finds the compile endpoint: an empty POST is not a 404', async () => {
  const res = await g.app.inject({ method: 'POST', url: '/api/v2/compile-config-with-defaults', headers: { 'circle-token': g.adminToken } });
  assert.is(res.statusCode, 400);
  assert.type(res.json().message, 'string');
});

test('every orb of the corpus publishes', async () => {
  let count = 0;
  for (const namespace of readdirSync(orbDir).filter((d) => !d.includes('.'))) {
    for (const file of readdirSync(join(orbDir, namespace))) {
      const [orb, version] = file.replace(/\.yml$/, '').split('@') as [string, string];
      await publish(namespace, orb, version, readFileSync(join(orbDir, namespace, file), 'utf8'));
      count++;
    }
  }
  assert.ok(count >= 40, `${count} orbs`);
});

test('every config processes, or fails only for an orb version the corpus lacks', async () => {
  const results: Array<{ file: string; valid: boolean; errors: string[] }> = [];
  for (const file of readdirSync(configDir).filter((f) => f.endsWith('.yml'))) {
    const r = await compile(readFileSync(join(configDir, file), 'utf8'));
    results.push({ file, valid: r.valid, errors: r.errors.map((e) => e.message) });
    if (r.valid) assert.match(r['output-yaml'], /^version: 2\n/, file);
  }
  const broken = 'CircleCI-Public__cimg-node.yml';
  const unexpected = results.filter((r) => !r.valid && r.file !== broken && !r.errors.every((e) => /is not in Gyre's orb registry/.test(e)));
  assert.equal(unexpected, []);
  const valid = results.filter((r) => r.valid).length;
  assert.ok(valid >= 44, `${valid} of ${results.length} configs process`);
  // the orb-less failures name the orb and the line that asks for it
  for (const r of results.filter((x) => !x.valid && x.file !== broken))
    assert.match(r.errors[0]!, /^(\.circleci\/config\.yml|orb [^:]+):\d+: orbs\.[^:]+: orb \S+ is not in Gyre's orb registry/, r.file);
});

test('the config broken upstream fails with an error naming the job it lacks, once its orbs resolve', async () => {
  const config = readFileSync(join(configDir, 'CircleCI-Public__cimg-node.yml'), 'utf8');
  const before = await compile(config);
  assert.match(before.errors[0]!.message, /circleci\/cimg@0\.3\.3 is not in Gyre's orb registry/);
  // the corpus lacks circleci/cimg: a small one with the command the config uses
  await publish(
    'circleci',
    'cimg',
    '0.3.3',
    'version: 2.1\ncommands:\n  build-images:\n    parameters:\n      build-command: {type: string, default: ""}\n    steps:\n      - run: echo build\n',
  );
  const after = await compile(config);
  assert.is(after.valid, false);
  assert.equal(
    after.errors.map((e) => e.message),
    [after.errors.find((e) => /cimg-build/.test(e.message))!.message],
  );
  assert.match(after.errors[0]!.message, /^\.circleci\/config\.yml:25: workflows\.main-wf\.jobs\[0\]\.cimg-build: job cimg-build is not defined/);
});

test('the quirks the corpus README names: a tab in a plain scalar, a reused anchor, <<# sections, no workflows, an inline orb', async () => {
  for (const file of ['facebook__react.yml', 'solidusio__solidus.yml', 'sfackler__rust-openssl.yml', 'cortexproject__cortex.yml']) {
    const r = await compile(readFileSync(join(configDir, file), 'utf8'));
    if (file === 'solidusio__solidus.yml')
      assert.match(r.errors.map((e) => e.message).join('\n'), /codecov\/codecov@3\.2\.3 is not in Gyre's orb registry/, file);
    else assert.ok(r.valid, `${file}: ${JSON.stringify(r.errors)}`);
  }
  const cortex = await compile(readFileSync(join(configDir, 'cortexproject__cortex.yml'), 'utf8'));
  assert.match(cortex['output-yaml'], /workflows:\n {2}version: 2\n {2}workflow:\n {4}jobs:\n {6}- build\n/);
  const inline = await compile(readFileSync(join(configDir, 'DataDog__dd-trace-rb.yml'), 'utf8'));
  assert.match(inline.errors.map((e) => e.message).join('\n'), /orbs\.orb\.orbs\.codecov: orb codecov\/codecov@3\.2\.3 is not in Gyre's orb registry/);
});

test('the configs with legacy scheduled workflows: every schedule trigger reads, and plans its workflow alone on its branches', async () => {
  const files = readdirSync(configDir).filter((f) => f.endsWith('.yml') && /^\s*-\s*schedule:/m.test(readFileSync(join(configDir, f), 'utf8')));
  assert.is(files.length, 11);
  let planned = 0;
  for (const file of files) {
    const r = await compile(readFileSync(join(configDir, file), 'utf8'));
    if (!r.valid) continue;
    // the compiled config names no orbs: it processes again on its own, as a pipeline's config
    const processed = processConfig(r['output-yaml'], { resolveOrb: () => ({ error: 'a compiled config names no orbs' }) });
    assert.ok(processed.valid, file);
    if (!processed.valid) continue;
    const { schedules, problems } = scheduledWorkflowsOf(processed.config);
    assert.equal(problems, [], file);
    assert.ok(schedules.length > 0, file);
    for (const s of schedules) {
      assert.ok(s.branches.length > 0, `${file}: ${s.workflow} names a branch`);
      const plan = planWorkflows(processed.config, { branch: s.branches[0]! }, [s.workflow]);
      assert.ok(
        plan.every((w) => w.name === s.workflow),
        file,
      );
      if (plan.length) planned++;
      assert.not.ok(
        planWorkflows(processed.config, { branch: s.branches[0]! }).some((w) => w.name === s.workflow),
        `${file}: ${s.workflow} runs only on its schedule`,
      );
    }
  }
  assert.ok(planned >= 11, `${planned} scheduled workflows plan jobs`);
});

test.run();
