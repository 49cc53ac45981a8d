import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { pickVersion, type OrbRef } from '../orbs/orb-ref.ts';
import { readFilters, runsFor } from './filters.ts';
import type { ConfigProblem } from './problems.ts';
import { defaultConfigLimits, processConfig, type ProcessOptions, type ProcessedConfig } from './process.ts';

const test = suite('domain/config/process');
const file = '.circleci/config.yml';

/** A registry stub serving inline orb sources; it records every reference it is asked for. */
const registry: Record<string, Record<string, string>> = {
  'acme/helper': {
    '2.0.0': 'version: 2.1\ncommands:\n  hello:\n    steps:\n      - run: echo old helper\n',
    '2.1.0': 'version: 2.1\ncommands:\n  hello:\n    steps:\n      - run: echo hello from helper\n',
    '3.0.0': 'version: 2.1\ncommands:\n  hello:\n    steps:\n      - run: echo helper three\n',
  },
  'acme/tools': {
    '1.2.3': `version: 2.1
orbs:
  helper: acme/helper@2
executors:
  default:
    parameters:
      tag:
        type: string
        default: "1.0"
    docker:
      - image: acme/tool:<< parameters.tag >>
    resource_class: small
commands:
  install:
    parameters:
      version:
        type: string
        default: latest
    steps:
      - run: install-tool << parameters.version >>
      - helper/hello
jobs:
  lint:
    parameters:
      strict:
        type: boolean
        default: false
    executor: default
    steps:
      - checkout
      - install
      - run: lint<<# parameters.strict >> --strict<</ parameters.strict >>
`,
    '1.1.0': 'version: 2.1\ncommands:\n  install:\n    steps:\n      - run: old\n',
  },
  'acme/broken': {
    '1.0.0': `version: 2.1
jobs:
  bad:
    docker:
      - image: x
    colour: red
    steps:
      - checkout
`,
  },
  'acme/loop-a': { '1.0.0': 'version: 2.1\norbs:\n  b: acme/loop-b@1.0.0\ncommands:\n  a:\n    steps:\n      - run: a\n' },
  'acme/loop-b': { '1.0.0': 'version: 2.1\norbs:\n  a: acme/loop-a@1.0.0\ncommands:\n  b:\n    steps:\n      - run: b\n' },
};
let asked: OrbRef[] = [];
const resolveOrb: ProcessOptions['resolveOrb'] = (ref) => {
  asked.push(ref);
  const key = `${ref.namespace}/${ref.name}`;
  const versions = registry[key];
  const version = versions && pickVersion(Object.keys(versions), ref.version);
  if (!versions || !version) return { error: `orb ${key}@${ref.version} is not in the registry` };
  return { resolved: `${key}@${version}`, source: versions[version]! };
};

const run = (text: string, options: Partial<ProcessOptions> = {}) => {
  asked = [];
  return processConfig(text, { resolveOrb, ...options });
};
/** Processes a config that must be valid. */
const valid = (text: string, options: Partial<ProcessOptions> = {}) => {
  const r = run(text, options);
  if (!r.valid)
    throw new assert.Assertion({
      message: `expected a valid config, got ${JSON.stringify(r.problems, null, 1)}`,
      generated: false,
      operator: 'valid',
      expects: true,
      actual: false,
    });
  return r;
};
/** Processes a config that must be refused, never throwing. */
const invalid = (text: unknown, options: Partial<ProcessOptions> = {}): ReadonlyArray<ConfigProblem> => {
  let r: ReturnType<typeof run>;
  try {
    r = run(text as string, options);
  } catch (e) {
    throw new assert.Assertion({
      message: `processing threw instead of returning problems: ${String(e).slice(0, 200)}`,
      generated: false,
      operator: 'invalid',
      expects: 'problems',
      actual: 'throw',
    });
  }
  assert.is(r.valid, false, 'the config should be refused');
  if (r.valid) throw new Error('unreachable');
  assert.ok(r.problems.length > 0, 'a refused config has problems');
  for (const p of r.problems) {
    assert.type(p.file, 'string');
    assert.type(p.message, 'string');
    assert.ok(p.message.length > 0);
  }
  return r.problems;
};
/** The one problem whose key is `key`. */
const problemAt = (problems: ReadonlyArray<ConfigProblem>, key: string): ConfigProblem => {
  const found = problems.find((p) => p.key === key);
  if (!found)
    throw new assert.Assertion({
      message: `no problem at ${key}: ${JSON.stringify(problems, null, 1)}`,
      generated: false,
      operator: 'problemAt',
      expects: key,
      actual: problems.map((p) => p.key).join(', '),
    });
  return found;
};
const jobNames = (c: ProcessedConfig, wf: string) => c.workflows[wf]!.jobs.map((j) => j.name);

// ---------------------------------------------------------------------------------------------
// what a valid config becomes

test('jobs with docker and machine executors; the output is version 2 with workflows version 2', () => {
  const r = valid(`version: 2.1
jobs:
  build:
    docker:
      - image: cimg/node:20.1
        auth:
          username: bot
          password: $DOCKER_PASSWORD
      - image: postgres:16
        environment:
          POSTGRES_USER: ci
    resource_class: large
    parallelism: 3
    working_directory: ~/app
    environment:
      CI: "true"
    steps:
      - checkout
      - run: npm test
  vm:
    machine:
      image: ubuntu-2204:current
    steps:
      - run: docker ps
workflows:
  main:
    jobs:
      - build
      - vm:
          requires: [build]
          context: [org-global]
`);
  assert.equal(r.config.jobs.build, {
    docker: [
      { image: 'cimg/node:20.1', auth: { username: 'bot', password: '$DOCKER_PASSWORD' } },
      { image: 'postgres:16', environment: { POSTGRES_USER: 'ci' } },
    ],
    resource_class: 'large',
    parallelism: 3,
    working_directory: '~/app',
    environment: { CI: 'true' },
    steps: ['checkout', { run: { command: 'npm test' } }],
  });
  assert.equal(r.config.jobs.vm, { machine: { image: 'ubuntu-2204:current' }, steps: [{ run: { command: 'docker ps' } }] });
  assert.equal(r.config.workflows.main, {
    jobs: [
      { name: 'build', requires: [], context: [] },
      { name: 'vm', requires: ['build'], context: ['org-global'] },
    ],
  });
  assert.is(r.config.setup, false);
  assert.equal(r.orbs, []);
  assert.ok(r.yaml.startsWith('version: 2\n'), r.yaml);
  assert.match(
    r.yaml,
    /\nworkflows:\n {2}version: 2\n {2}main:\n {4}jobs:\n {6}- build\n {6}- vm:\n {10}requires:\n {12}- build\n {10}context:\n {12}- org-global\n/,
  );
  assert.match(r.yaml, /\n {6}- run:\n {10}command: npm test\n/);
  assert.not.match(r.yaml, /2\.1/);
});

test('a version 2 config: run strings and dashed step names normalized, workflows version skipped, no workflows means the build job', () => {
  const r = valid(`version: 2
jobs:
  build:
    docker:
      - image: circleci/ruby:2.7
    steps:
      - checkout
      - run: bundle exec rspec
      - store-test-results:
          path: test-results
workflows:
  version: 2
  ci:
    jobs:
      - build:
          filters:
            branches:
              only: main
`);
  assert.equal(r.config.jobs.build!.steps, ['checkout', { run: { command: 'bundle exec rspec' } }, { store_test_results: { path: 'test-results' } }]);
  assert.equal(Object.keys(r.config.workflows), ['ci']);
  const [ci] = r.config.workflows.ci!.jobs;
  assert.equal({ ...ci, filters: undefined }, { name: 'build', requires: [], context: [], filters: undefined });
  const filters = readFilters(ci!.filters, [], () => {
    throw new Error('the processed filters do not read back');
  });
  assert.is(runsFor(filters, { branch: 'main' }), true);
  assert.is(runsFor(filters, { branch: 'dev' }), false);
  assert.match(r.yaml, /\n {6}- build:\n {10}filters:\n {12}branches:\n {14}only:/);
  assert.ok(r.yaml.startsWith('version: 2\n'));
  assert.match(r.yaml, /\nworkflows:\n {2}version: 2\n {2}ci:\n/);

  const bare = valid('version: 2\njobs:\n  build:\n    docker:\n      - image: alpine\n    steps:\n      - run: make\n');
  assert.equal(Object.keys(bare.config.workflows), ['workflow']);
  assert.equal(jobNames(bare.config, 'workflow'), ['build']);
  assert.match(bare.yaml, /\nworkflows:\n {2}version: 2\n {2}workflow:\n {4}jobs:\n {6}- build\n/);
});

test('every built-in step is normalized: run strings become {run: {command}}, bare names stay strings', () => {
  const r = valid(`version: 2.1
jobs:
  build:
    docker:
      - image: alpine
    steps:
      - checkout
      - checkout:
          path: ~/src
      - run: make
      - run:
          name: Test
          command: make test
          when: always
          background: false
          no_output_timeout: 20m
          environment:
            A: b
      - save_cache:
          key: v1-{{ checksum "package-lock.json" }}
          paths:
            - node_modules
      - restore_cache:
          keys:
            - v1-{{ checksum "package-lock.json" }}
            - v1-
      - restore_cache:
          key: v1-x
      - store_artifacts:
          path: dist
          destination: build
      - store_test_results:
          path: reports
      - persist_to_workspace:
          root: .
          paths: [dist]
      - attach_workspace:
          at: /tmp/ws
      - setup_remote_docker
      - setup_remote_docker:
          docker_layer_caching: true
      - add_ssh_keys
      - add_ssh_keys:
          fingerprints: ["aa:bb"]
      - deploy: ./deploy.sh
workflows:
  w:
    jobs: [build]
`);
  assert.equal(r.config.jobs.build!.steps, [
    'checkout',
    { checkout: { path: '~/src' } },
    { run: { command: 'make' } },
    { run: { name: 'Test', command: 'make test', when: 'always', background: false, no_output_timeout: '20m', environment: { A: 'b' } } },
    { save_cache: { key: 'v1-{{ checksum "package-lock.json" }}', paths: ['node_modules'] } },
    { restore_cache: { keys: ['v1-{{ checksum "package-lock.json" }}', 'v1-'] } },
    { restore_cache: { key: 'v1-x' } },
    { store_artifacts: { path: 'dist', destination: 'build' } },
    { store_test_results: { path: 'reports' } },
    { persist_to_workspace: { root: '.', paths: ['dist'] } },
    { attach_workspace: { at: '/tmp/ws' } },
    'setup_remote_docker',
    { setup_remote_docker: { docker_layer_caching: true } },
    'add_ssh_keys',
    { add_ssh_keys: { fingerprints: ['aa:bb'] } },
    { deploy: { command: './deploy.sh' } },
  ]);
  assert.match(r.yaml, /\n {6}- checkout\n {6}- checkout:\n {10}path: ~\/src\n {6}- run:\n {10}command: make\n/);
});

test('reusable executors with parameters; the job environment merges over the executor one', () => {
  const r = valid(`version: 2.1
executors:
  node:
    description: Node in Docker
    parameters:
      tag:
        type: string
        default: "20.1"
    docker:
      - image: cimg/node:<< parameters.tag >>
    resource_class: medium
    environment:
      FROM_EXECUTOR: "1"
      SHARED: executor
  vm:
    machine:
      image: ubuntu-2204:current
jobs:
  default-tag:
    executor: node
    steps: [checkout]
  old-node:
    executor:
      name: node
      tag: "18.0"
    environment:
      SHARED: job
    resource_class: large
    steps: [checkout]
  on-vm:
    executor: vm
    steps: [checkout]
workflows:
  w:
    jobs: [default-tag, old-node, on-vm]
`);
  assert.equal(r.config.jobs['default-tag'], {
    docker: [{ image: 'cimg/node:20.1' }],
    resource_class: 'medium',
    environment: { FROM_EXECUTOR: '1', SHARED: 'executor' },
    steps: ['checkout'],
  });
  assert.equal(r.config.jobs['old-node'], {
    docker: [{ image: 'cimg/node:18.0' }],
    resource_class: 'large',
    environment: { FROM_EXECUTOR: '1', SHARED: 'job' },
    steps: ['checkout'],
  });
  assert.equal(r.config.jobs['on-vm'], { machine: { image: 'ubuntu-2204:current' }, steps: ['checkout'] });
  assert.not.match(r.yaml, /description|parameters|executor:/);
});

const greetConfig = (invocation: string) => `version: 2.1
commands:
  greet:
    parameters:
      who:
        type: string
        default: world
      loud:
        type: boolean
        default: false
      times:
        type: integer
        default: 1
      level:
        type: enum
        enum: [debug, info]
        default: info
      var:
        type: env_var_name
        default: TOKEN
      after:
        type: steps
        default: []
    steps:
      - run:
          name: greet << parameters.who >>
          command: echo "hi << parameters.who >> x<< parameters.times >> $<< parameters.var >> <<# parameters.loud >>LOUD<</ parameters.loud >><<^ parameters.loud >>quiet<</ parameters.loud >> << parameters.level >>"
          background: << parameters.loud >>
      - << parameters.after >>
jobs:
  build:
    docker:
      - image: alpine
    steps:
${invocation}
workflows:
  w:
    jobs: [build]
`;

test('commands with typed parameters: defaults, given values, sections and a whole-string boolean staying a boolean', () => {
  const defaults = valid(greetConfig('      - greet'));
  assert.equal(defaults.config.jobs.build!.steps, [{ run: { name: 'greet world', command: 'echo "hi world x1 $TOKEN quiet info"', background: false } }]);
  const given = valid(
    greetConfig(`      - greet:
          who: Ann
          loud: true
          times: 3
          level: debug
          var: MY_VAR
          after:
            - run: echo done
            - checkout`),
  );
  assert.equal(given.config.jobs.build!.steps, [
    { run: { name: 'greet Ann', command: 'echo "hi Ann x3 $MY_VAR LOUD debug"', background: true } },
    { run: { command: 'echo done' } },
    'checkout',
  ]);
  const background = (given.config.jobs.build!.steps[0] as { run: { background: unknown } }).run.background;
  assert.is(background, true, 'a whole-string << parameters.loud >> is the boolean, not "true"');
  assert.match(given.yaml, /background: true\n/);
});

test('job parameters: integer, executor and steps types keep their types', () => {
  const r = valid(`version: 2.1
executors:
  node:
    parameters:
      tag:
        type: string
        default: "20"
    docker:
      - image: node:<< parameters.tag >>
jobs:
  test:
    parameters:
      n:
        type: integer
        default: 2
      e:
        type: executor
        default: node
      before:
        type: steps
        default: []
    executor: << parameters.e >>
    parallelism: << parameters.n >>
    steps:
      - << parameters.before >>
      - run: test --shards << parameters.n >>
workflows:
  w:
    jobs:
      - test:
          name: plain
      - test:
          name: custom
          n: 4
          e:
            name: node
            tag: "16"
          before:
            - run: setup
`);
  assert.equal(r.config.jobs.plain, { docker: [{ image: 'node:20' }], parallelism: 2, steps: [{ run: { command: 'test --shards 2' } }] });
  assert.equal(r.config.jobs.custom, {
    docker: [{ image: 'node:16' }],
    parallelism: 4,
    steps: [{ run: { command: 'setup' } }, { run: { command: 'test --shards 4' } }],
  });
  assert.is(r.config.jobs.custom!.parallelism, 4);
  assert.equal(jobNames(r.config, 'w'), ['plain', 'custom']);
});

test('boolean parameters take the YAML 1.1 words yes/no/on/off, as CircleCI documents', () => {
  // "Boolean parameter evaluation is based on the values specified in YAML 1.1: true: y yes true on; false: n no false off"
  const config = (value: string) => `version: 2.1
commands:
  maybe:
    parameters:
      flag:
        type: boolean
        default: false
    steps:
      - run: echo<<# parameters.flag >> on<</ parameters.flag >>
jobs:
  build:
    docker:
      - image: alpine
    steps:
      - maybe:
          flag: ${value}
workflows:
  w:
    jobs: [build]
`;
  assert.equal(valid(config('yes')).config.jobs.build!.steps, [{ run: { command: 'echo on' } }]);
  assert.equal(valid(config('off')).config.jobs.build!.steps, [{ run: { command: 'echo' } }]);
});

const pipelineConfig = `version: 2.1
parameters:
  deploy:
    type: boolean
    default: false
  image:
    type: string
    default: cimg/base:stable
  shards:
    type: integer
    default: 2
jobs:
  build:
    docker:
      - image: << pipeline.parameters.image >>
    parallelism: << pipeline.parameters.shards >>
    steps:
      - run: 'echo "<< pipeline.git.branch >> #<< pipeline.number >> at << pipeline.git.revision >>"'
  ship:
    docker:
      - image: alpine
    steps:
      - run: ship
workflows:
  ci:
    jobs: [build]
  release:
    when: << pipeline.parameters.deploy >>
    jobs: [ship]
`;

test('pipeline parameters: defaults, given values, and << pipeline.* >> values', () => {
  const values = { 'git.branch': 'main', 'git.revision': 'abc123', number: 42 };
  const byDefault = valid(pipelineConfig, { pipelineValues: values });
  assert.equal(byDefault.config.jobs.build, {
    docker: [{ image: 'cimg/base:stable' }],
    parallelism: 2,
    steps: [{ run: { command: 'echo "main #42 at abc123"' } }],
  });
  assert.equal(Object.keys(byDefault.config.workflows), ['ci'], 'the release workflow is off by default');
  assert.is(byDefault.config.jobs.ship, undefined);

  const given = valid(pipelineConfig, { pipelineValues: values, pipelineParameters: { deploy: true, image: 'cimg/node:20.1', shards: 5 } });
  assert.equal(given.config.jobs.build, { docker: [{ image: 'cimg/node:20.1' }], parallelism: 5, steps: [{ run: { command: 'echo "main #42 at abc123"' } }] });
  assert.equal(Object.keys(given.config.workflows), ['ci', 'release']);
  assert.equal(jobNames(given.config, 'release'), ['ship']);
  assert.ok(!given.yaml.includes('pipeline.'), given.yaml);
});

test('pipeline parameters given with the wrong type, or not declared, are problems at the parameter', () => {
  const wrongType = invalid(pipelineConfig, { pipelineParameters: { deploy: 'yes please' } });
  const p = problemAt(wrongType, 'parameters.deploy');
  assert.is(p.file, file);
  assert.is(p.line, 3);
  assert.match(p.message, /boolean/);
  const notDeclared = invalid(pipelineConfig, { pipelineParameters: { colour: 'red' } });
  const q = problemAt(notDeclared, 'parameters.colour');
  assert.match(q.message, /colour/);
  assert.is(q.line, 2, 'the nearest line is the parameters block');
  const noDefault = invalid(
    'version: 2.1\nparameters:\n  target:\n    type: string\njobs:\n  build:\n    docker: [{image: x}]\n    steps: [checkout]\nworkflows:\n  w:\n    jobs: [build]\n',
  );
  assert.match(problemAt(noDefault, 'parameters').message, /target/);
  const undeclared = invalid(
    'version: 2.1\njobs:\n  build:\n    docker: [{image: x}]\n    steps:\n      - run: echo << pipeline.parameters.nope >>\nworkflows:\n  w:\n    jobs: [build]\n',
  );
  const u = problemAt(undeclared, 'jobs.build.steps[0].run');
  assert.is(u.line, 6);
  assert.match(u.message, /pipeline\.parameters\.nope/);
});

test('pipeline values that are not set substitute the empty string; a name outside every namespace is a problem', () => {
  const r = valid(
    `version: 2.1
jobs:
  build:
    docker:
      - image: alpine
    steps:
      - run: echo "[<< pipeline.git.tag >>][<< pipeline.trigger_parameters.gitlab.branch >>][<< pipeline.git.branch >>][<< pipeline.schedule.name >>]"
workflows:
  w:
    jobs: [build]
`,
    { pipelineValues: { 'git.branch': 'dev' } },
  );
  assert.equal(r.config.jobs.build!.steps, [{ run: { command: 'echo "[][][dev][]"' } }]);
  // CircleCI answers an unknown variable with "Unknown variable(s)"
  const unknown = invalid(
    'version: 2.1\njobs:\n  build:\n    docker: [{image: x}]\n    steps:\n      - run: echo << pipeline.nonsense >>\nworkflows:\n  w:\n    jobs: [build]\n',
  );
  const p = problemAt(unknown, 'jobs.build.steps[0].run');
  assert.is(p.line, 6);
  assert.match(p.message, /pipeline\.nonsense/);
});

test('an object property name is not a pipeline value or matrix parameter (<< pipeline.constructor >>)', () => {
  const pipeline = invalid(
    'version: 2.1\njobs:\n  build:\n    docker: [{image: x}]\n    steps:\n      - run: echo << pipeline.constructor >>\nworkflows:\n  w:\n    jobs: [build]\n',
  );
  assert.match(problemAt(pipeline, 'jobs.build.steps[0].run').message, /pipeline\.constructor/);
  const matrix = invalid(`version: 2.1
jobs:
  build:
    parameters:
      v:
        type: string
    docker: [{image: x}]
    steps:
      - run: echo << parameters.v >>
workflows:
  w:
    jobs:
      - build:
          name: b-<< matrix.toString >>
          matrix:
            parameters:
              v: [a]
`);
  assert.ok(
    matrix.some((p) => /matrix\.toString/.test(p.message)),
    JSON.stringify(matrix),
  );
});

test('when and unless steps decide with and, or, not, equal and matches', () => {
  const config = `version: 2.1
parameters:
  fast:
    type: boolean
    default: false
jobs:
  build:
    docker:
      - image: alpine
    steps:
      - when:
          condition:
            equal: [main, << pipeline.git.branch >>]
          steps:
            - run: on-main
      - unless:
          condition:
            equal: [main, << pipeline.git.branch >>]
          steps:
            - run: not-main
      - when:
          condition:
            matches:
              pattern: "^feature-.+$"
              value: << pipeline.git.branch >>
          steps:
            - run: feature
      - when:
          condition:
            and:
              - not: << pipeline.parameters.fast >>
              - or:
                  - equal: [main, << pipeline.git.branch >>]
                  - matches: {pattern: "release/.*", value: << pipeline.git.branch >>}
          steps:
            - run: slow-checks
      - when:
          condition: << pipeline.parameters.fast >>
          steps:
            - run: fast
      - run: always
workflows:
  w:
    jobs: [build]
`;
  const steps = (branch: string, fast = false) =>
    (
      valid(config, { pipelineValues: { 'git.branch': branch }, pipelineParameters: { fast } }).config.jobs.build!.steps as Array<{ run: { command: string } }>
    ).map((s) => s.run.command);
  assert.equal(steps('main'), ['on-main', 'slow-checks', 'always']);
  assert.equal(steps('feature-login'), ['not-main', 'feature', 'always']);
  assert.equal(steps('release/1.0'), ['not-main', 'slow-checks', 'always']);
  assert.equal(steps('main', true), ['on-main', 'fast', 'always']);
  assert.equal(steps('xfeature-login'), ['not-main', 'always'], 'matches is a full match');
});

test('a when step inside a command decides on its boolean parameter', () => {
  const r = valid(`version: 2.1
commands:
  install:
    parameters:
      clean:
        type: boolean
        default: false
    steps:
      - when:
          condition: << parameters.clean >>
          steps:
            - run: npm ci
      - when:
          condition:
            not: << parameters.clean >>
          steps:
            - run: npm install
jobs:
  build:
    docker: [{image: node}]
    steps:
      - install
      - install:
          clean: true
workflows:
  w:
    jobs: [build]
`);
  assert.equal(r.config.jobs.build!.steps, [{ run: { command: 'npm install' } }, { run: { command: 'npm ci' } }]);
});

test('workflow-level when and unless with and/or/not/equal/matches', () => {
  const config = `version: 2.1
parameters:
  nightly:
    type: boolean
    default: false
jobs:
  build:
    docker: [{image: alpine}]
    steps: [checkout]
workflows:
  on-main:
    when:
      equal: [main, << pipeline.git.branch >>]
    jobs: [build]
  not-on-main:
    unless:
      equal: [main, << pipeline.git.branch >>]
    jobs: [build]
  release:
    when:
      and:
        - matches: {pattern: "^v[0-9]+\\\\.[0-9]+$", value: << pipeline.git.tag >>}
        - not: << pipeline.parameters.nightly >>
    jobs: [build]
  either:
    when:
      or:
        - << pipeline.parameters.nightly >>
        - equal: [staging, << pipeline.git.branch >>]
    jobs: [build]
`;
  const workflows = (values: Record<string, unknown>, nightly = false) =>
    Object.keys(valid(config, { pipelineValues: values, pipelineParameters: { nightly } }).config.workflows);
  assert.equal(workflows({ 'git.branch': 'main' }), ['on-main']);
  assert.equal(workflows({ 'git.branch': 'dev' }), ['not-on-main']);
  assert.equal(workflows({ 'git.branch': 'staging' }), ['not-on-main', 'either']);
  assert.equal(workflows({ 'git.tag': 'v1.2' }), ['not-on-main', 'release']);
  assert.equal(workflows({ 'git.tag': 'v1.2' }, true), ['not-on-main', 'either']);
  assert.equal(workflows({ 'git.tag': 'v1.2.3' }), ['not-on-main']);
});

test('matrix: parameters, exclude, generated names like test-1, and requires of the job meaning every instance', () => {
  const r = valid(`version: 2.1
jobs:
  test:
    parameters:
      v:
        type: integer
    docker:
      - image: node:<< parameters.v >>
    steps:
      - run: echo << parameters.v >>
  report:
    docker: [{image: alpine}]
    steps: [checkout]
  only-one:
    docker: [{image: alpine}]
    steps: [checkout]
workflows:
  w:
    jobs:
      - test:
          matrix:
            parameters:
              v: [1, 2, 3]
            exclude:
              - v: 2
      - report:
          requires: [test]
      - only-one:
          requires: [test-3]
`);
  assert.equal(jobNames(r.config, 'w'), ['test-1', 'test-3', 'report', 'only-one']);
  assert.equal(r.config.jobs['test-1'], { docker: [{ image: 'node:1' }], steps: [{ run: { command: 'echo 1' } }] });
  assert.equal(r.config.jobs['test-3'], { docker: [{ image: 'node:3' }], steps: [{ run: { command: 'echo 3' } }] });
  assert.is(r.config.jobs['test-2'], undefined);
  assert.is(r.config.jobs.test, undefined);
  assert.equal(r.config.workflows.w!.jobs.find((j) => j.name === 'report')!.requires, ['test-1', 'test-3']);
  assert.equal(r.config.workflows.w!.jobs.find((j) => j.name === 'only-one')!.requires, ['test-3']);
});

test('matrix with two parameters: exclude removes exactly the listed combination', () => {
  const r = valid(`version: 2.1
jobs:
  build:
    parameters:
      a: {type: integer}
      b: {type: integer}
    docker: [{image: alpine}]
    steps:
      - run: echo << parameters.a >> << parameters.b >>
workflows:
  w:
    jobs:
      - build:
          matrix:
            parameters:
              a: [1, 2, 3]
              b: [4, 5, 6]
            exclude:
              - a: 3
                b: 5
`);
  const names = jobNames(r.config, 'w');
  assert.is(names.length, 8);
  assert.is(new Set(names).size, 8);
  assert.ok(!names.some((n) => n.includes('3') && n.includes('5')), names.join());
  assert.ok(
    names.some((n) => n.includes('3') && n.includes('4')),
    names.join(),
  );
});

test('matrix alias, matrix names with << matrix.x >>, and requires of one instance by its name', () => {
  const r = valid(`version: 2.1
jobs:
  lint:
    parameters:
      os: {type: string}
    docker: [{image: alpine}]
    steps:
      - run: lint --os << parameters.os >>
  deploy:
    parameters:
      os: {type: string}
    docker: [{image: alpine}]
    steps:
      - run: deploy << parameters.os >>
  done:
    docker: [{image: alpine}]
    steps: [checkout]
workflows:
  w:
    jobs:
      - lint:
          name: lint-on-<< matrix.os >>
          matrix:
            alias: all-lint
            parameters:
              os: [linux, mac]
      - deploy:
          name: deploy-<< matrix.os >>
          requires: [lint-on-<< matrix.os >>]
          matrix:
            parameters:
              os: [linux, mac]
      - done:
          requires: [all-lint, deploy]
`);
  assert.equal(jobNames(r.config, 'w'), ['lint-on-linux', 'lint-on-mac', 'deploy-linux', 'deploy-mac', 'done']);
  const requires = Object.fromEntries(r.config.workflows.w!.jobs.map((j) => [j.name, j.requires]));
  assert.equal(requires['deploy-linux'], ['lint-on-linux']);
  assert.equal(requires['deploy-mac'], ['lint-on-mac']);
  assert.equal(requires.done, ['lint-on-linux', 'lint-on-mac', 'deploy-linux', 'deploy-mac']);
  assert.equal(r.config.jobs['deploy-mac']!.steps, [{ run: { command: 'deploy mac' } }]);
});

test('matrix job names follow the documented example: build-macos-0.1 for version and platform', () => {
  // configuration reference, matrix: version ["0.1", …] and platform ["macos", …] expand to build-macos-0.1, build-macos-0.2, …
  const r = valid(`version: 2.1
jobs:
  build:
    parameters:
      version: {type: string}
      platform: {type: string}
    docker: [{image: alpine}]
    steps: [checkout]
workflows:
  workflow:
    jobs:
      - build:
          matrix:
            parameters:
              version: ["0.1", "0.2", "0.3"]
              platform: ["macos", "windows", "linux"]
`);
  const names = jobNames(r.config, 'workflow');
  assert.is(names.length, 9);
  for (const n of ['build-macos-0.1', 'build-macos-0.2', 'build-windows-0.1', 'build-linux-0.3']) assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
});

test('pre-steps and post-steps wrap the job steps, and approval jobs hold the workflow', () => {
  const r = valid(`version: 2.1
commands:
  notify:
    parameters:
      msg: {type: string}
    steps:
      - run: notify << parameters.msg >>
jobs:
  build:
    docker: [{image: alpine}]
    steps:
      - run: make
  deploy:
    docker: [{image: alpine}]
    steps:
      - run: deploy
workflows:
  w:
    jobs:
      - build:
          pre-steps:
            - run: before
            - notify: {msg: start}
          post-steps:
            - notify: {msg: end}
      - hold:
          type: approval
          requires: [build]
      - deploy:
          requires: [hold]
`);
  assert.equal(r.config.jobs.build!.steps, [
    { run: { command: 'before' } },
    { run: { command: 'notify start' } },
    { run: { command: 'make' } },
    { run: { command: 'notify end' } },
  ]);
  assert.equal(r.config.workflows.w!.jobs, [
    { name: 'build', requires: [], context: [] },
    { name: 'hold', type: 'approval', requires: ['build'], context: [] },
    { name: 'deploy', requires: ['hold'], context: [] },
  ]);
  assert.is(r.config.jobs.hold, undefined, 'an approval job runs nothing');
  assert.match(r.yaml, /\n {6}- hold:\n {10}type: approval\n {10}requires:\n {12}- build\n/);
});

test('context is a name or a list of names; two jobs of a workflow may not share a name', () => {
  const r = valid(`version: 2.1
jobs:
  build:
    docker: [{image: alpine}]
    steps: [checkout]
workflows:
  w:
    jobs:
      - build:
          context: org-global
      - build:
          name: build-again
          context: [a, b]
`);
  assert.equal(
    r.config.workflows.w!.jobs.map((j) => j.context),
    [['org-global'], ['a', 'b']],
  );
  const twice = invalid(`version: 2.1
jobs:
  build:
    docker: [{image: alpine}]
    steps: [checkout]
workflows:
  w:
    jobs:
      - build
      - build
`);
  const p = problemAt(twice, 'workflows.w.jobs[1]');
  assert.equal({ file: p.file, line: p.line }, { file, line: 10 });
  assert.match(p.message, /two jobs named build/);
});

test('setup: true is kept for dynamic configuration', () => {
  const r = valid(
    'version: 2.1\nsetup: true\njobs:\n  generate:\n    docker: [{image: alpine}]\n    steps: [checkout]\nworkflows:\n  setup:\n    jobs: [generate]\n',
  );
  assert.is(r.config.setup, true);
  assert.ok(r.yaml.startsWith('version: 2\nsetup: true\n'), r.yaml);
  assert.is(
    valid('version: 2.1\njobs:\n  build:\n    docker: [{image: x}]\n    steps: [checkout]\nworkflows:\n  w:\n    jobs: [build]\n').yaml.includes('setup'),
    false,
  );
});

test('orbs from the registry: an orb job, command and executor used as name/thing; an orb importing another; partial versions passed to resolveOrb', () => {
  const r = valid(`version: 2.1
orbs:
  tools: acme/tools@1.2
jobs:
  build:
    executor: tools/default
    steps:
      - tools/install:
          version: "3.1"
  build-new:
    executor:
      name: tools/default
      tag: "2.0"
    steps:
      - tools/install
workflows:
  w:
    jobs:
      - tools/lint
      - tools/lint:
          name: strict-lint
          strict: true
      - build
      - build-new
`);
  assert.equal(
    asked.map((a) => `${a.namespace}/${a.name}@${a.version}`),
    ['acme/tools@1.2', 'acme/helper@2'],
  );
  assert.equal(r.orbs, ['acme/helper@2.1.0', 'acme/tools@1.2.3']);
  assert.equal(jobNames(r.config, 'w'), ['tools/lint', 'strict-lint', 'build', 'build-new']);
  const installed = [{ run: { command: 'install-tool latest' } }, { run: { command: 'echo hello from helper' } }];
  assert.equal(r.config.jobs['tools/lint'], {
    docker: [{ image: 'acme/tool:1.0' }],
    resource_class: 'small',
    steps: ['checkout', ...installed, { run: { command: 'lint' } }],
  });
  assert.equal(r.config.jobs['strict-lint']!.steps.at(-1), { run: { command: 'lint --strict' } });
  assert.equal(r.config.jobs.build, {
    docker: [{ image: 'acme/tool:1.0' }],
    resource_class: 'small',
    steps: [{ run: { command: 'install-tool 3.1' } }, installed[1]],
  });
  assert.equal(r.config.jobs['build-new'], { docker: [{ image: 'acme/tool:2.0' }], resource_class: 'small', steps: installed });
  assert.match(r.yaml, /\n {2}tools\/lint:\n/);
});

test('a reference without a version asks for volatile', () => {
  const r = valid(
    'version: 2.1\norbs:\n  h: acme/helper\njobs:\n  build:\n    docker: [{image: x}]\n    steps: [h/hello]\nworkflows:\n  w:\n    jobs: [build]\n',
  );
  assert.equal(
    asked.map((a) => a.version),
    ['volatile'],
  );
  assert.equal(r.orbs, ['acme/helper@3.0.0']);
  assert.equal(r.config.jobs.build!.steps, [{ run: { command: 'echo helper three' } }]);
});

test('inline orbs under orbs: their commands, executors and jobs', () => {
  const r = valid(`version: 2.1
orbs:
  local:
    executors:
      small:
        docker:
          - image: alpine:3.20
        resource_class: small
    commands:
      say:
        parameters:
          msg:
            type: string
        steps:
          - run: echo << parameters.msg >>
    jobs:
      hello:
        executor: small
        steps:
          - say:
              msg: from the orb job
jobs:
  build:
    executor: local/small
    steps:
      - local/say:
          msg: from the config
workflows:
  w:
    jobs: [local/hello, build]
`);
  assert.equal(r.orbs, [], 'inline orbs come from no registry');
  assert.equal(asked, []);
  assert.equal(r.config.jobs['local/hello'], {
    docker: [{ image: 'alpine:3.20' }],
    resource_class: 'small',
    steps: [{ run: { command: 'echo from the orb job' } }],
  });
  assert.equal(r.config.jobs.build, { docker: [{ image: 'alpine:3.20' }], resource_class: 'small', steps: [{ run: { command: 'echo from the config' } }] });
});

test('\\<< escapes end as a literal <<, and shell heredocs are left alone', () => {
  const r = valid(
    `version: 2.1
commands:
  show:
    parameters:
      x:
        type: string
        default: value
    steps:
      - run: echo \\<< parameters.x >> is << parameters.x >>
jobs:
  build:
    docker: [{image: alpine}]
    steps:
      - show
      - run: echo \\<< pipeline.git.branch >> is << pipeline.git.branch >>
      - run: |
          cat <<EOF > out.txt
          hello
          EOF
workflows:
  w:
    jobs: [build]
`,
    { pipelineValues: { 'git.branch': 'main' } },
  );
  assert.equal(r.config.jobs.build!.steps, [
    { run: { command: 'echo << parameters.x >> is value' } },
    { run: { command: 'echo << pipeline.git.branch >> is main' } },
    { run: { command: 'cat <<EOF > out.txt\nhello\nEOF\n' } },
  ]);
  assert.ok(!r.yaml.includes('\\<<'), r.yaml);
  assert.match(r.yaml, /echo << parameters\.x >> is value/);
});

// ---------------------------------------------------------------------------------------------
// problems: each names file, line and key

test('an unknown key in a 2.1 job', () => {
  const problems = invalid(`version: 2.1
jobs:
  build:
    docker:
      - image: alpine
    stepz:
      - checkout
    steps:
      - checkout
workflows:
  w:
    jobs: [build]
`);
  const p = problemAt(problems, 'jobs.build.stepz');
  assert.equal({ file: p.file, line: p.line }, { file, line: 6 });
  assert.match(p.message, /stepz/);
});

test('a parameter of the wrong type, one not declared, one missing, and one referenced but undefined', () => {
  const config = (invocation: string, body = '      - run: echo << parameters.who >> << parameters.times >>') => `version: 2.1
commands:
  greet:
    parameters:
      who:
        type: string
      times:
        type: integer
        default: 1
      level:
        type: enum
        enum: [debug, info]
        default: info
      var:
        type: env_var_name
        default: TOKEN
    steps:
${body}
jobs:
  build:
    docker: [{image: alpine}]
    steps:
${invocation}
workflows:
  w:
    jobs: [build]
`;
  // line 23 is the invocation's first line
  let p = problemAt(invalid(config('      - greet:\n          who: Ann\n          times: three')), 'jobs.build.steps[0].greet.times');
  assert.equal({ file: p.file, line: p.line }, { file, line: 25 });
  assert.match(p.message, /integer/);
  p = problemAt(invalid(config('      - greet:\n          who: Ann\n          level: trace')), 'jobs.build.steps[0].greet.level');
  assert.is(p.line, 25);
  assert.match(p.message, /debug/);
  p = problemAt(invalid(config('      - greet:\n          who: Ann\n          var: 1-BAD')), 'jobs.build.steps[0].greet.var');
  assert.is(p.line, 25);
  p = problemAt(invalid(config('      - greet:\n          who: true')), 'jobs.build.steps[0].greet.who');
  assert.is(p.line, 24);
  assert.match(p.message, /string/);

  p = problemAt(invalid(config('      - greet:\n          who: Ann\n          colour: red')), 'jobs.build.steps[0].greet.colour');
  assert.equal({ file: p.file, line: p.line }, { file, line: 25 });
  assert.match(p.message, /colour/);

  p = problemAt(invalid(config('      - greet:\n          times: 2')), 'jobs.build.steps[0].greet');
  assert.equal({ file: p.file, line: p.line }, { file, line: 23 });
  assert.match(p.message, /who/);
  p = problemAt(invalid(config('      - greet')), 'jobs.build.steps[0].greet');
  assert.is(p.line, 23);
  assert.match(p.message, /who/);

  p = problemAt(invalid(config('      - greet:\n          who: Ann', '      - run: echo << parameters.nope >>')), 'commands.greet.steps[0].run');
  assert.equal({ file: p.file, line: p.line }, { file, line: 18 });
  assert.match(p.message, /parameters\.nope/);
});

test('a job parameter given in the workflow that the job does not declare', () => {
  const problems = invalid(`version: 2.1
jobs:
  build:
    docker: [{image: alpine}]
    steps: [checkout]
workflows:
  w:
    jobs:
      - build:
          requires: []
          flavour: vanilla
`);
  const p = problemAt(problems, 'workflows.w.jobs[0].build.flavour');
  assert.equal({ file: p.file, line: p.line }, { file, line: 11 });
});

test('a workflow naming an undefined job, and a cycle in requires', () => {
  const undefinedJob = invalid(`version: 2.1
jobs:
  build:
    docker: [{image: alpine}]
    steps: [checkout]
workflows:
  w:
    jobs:
      - build
      - tset:
          requires: [build]
`);
  const p = problemAt(undefinedJob, 'workflows.w.jobs[1].tset');
  assert.equal({ file: p.file, line: p.line }, { file, line: 10 });
  assert.match(p.message, /tset/);

  const cycle = invalid(`version: 2.1
jobs:
  a:
    docker: [{image: alpine}]
    steps: [checkout]
  b:
    docker: [{image: alpine}]
    steps: [checkout]
  c:
    docker: [{image: alpine}]
    steps: [checkout]
workflows:
  w:
    jobs:
      - a:
          requires: [c]
      - b:
          requires: [a]
      - c:
          requires: [b]
`);
  const q = problemAt(cycle, 'workflows.w.jobs');
  assert.equal({ file: q.file, line: q.line }, { file, line: 14 });
  assert.match(q.message, /cycle/);
  assert.match(q.message, /a → c → b → a/);

  const self = invalid(
    'version: 2.1\njobs:\n  a:\n    docker: [{image: x}]\n    steps: [checkout]\nworkflows:\n  w:\n    jobs:\n      - a:\n          requires: [a]\n',
  );
  assert.match(problemAt(self, 'workflows.w.jobs').message, /a → a/);
});

test('a missing orb, and an orb reference with bad syntax', () => {
  const missing = invalid(`version: 2.1
orbs:
  tools: acme/tools@1.2
  node: circleci/node@5.1
jobs:
  build:
    docker: [{image: alpine}]
    steps: [node/install]
workflows:
  w:
    jobs: [build]
`);
  const p = problemAt(missing, 'orbs.node');
  assert.equal({ file: p.file, line: p.line }, { file, line: 4 });
  assert.is(p.message, 'orb circleci/node@5.1 is not in the registry', 'the registry error is passed on');
  assert.equal(asked.map((a) => `${a.namespace}/${a.name}@${a.version}`).includes('circleci/node@5.1'), true);

  const noVersion = invalid(
    'version: 2.1\norbs:\n  tools: acme/tools@4\njobs:\n  build:\n    docker: [{image: x}]\n    steps: [checkout]\nworkflows:\n  w:\n    jobs: [build]\n',
  );
  assert.match(problemAt(noVersion, 'orbs.tools').message, /acme\/tools@4/);

  const badSyntax = invalid(
    'version: 2.1\norbs:\n  x: "not an orb"\n  y: acme/tools@latest\njobs:\n  build:\n    docker: [{image: x}]\n    steps: [checkout]\nworkflows:\n  w:\n    jobs: [build]\n',
  );
  const q = problemAt(badSyntax, 'orbs.x');
  assert.equal({ file: q.file, line: q.line }, { file, line: 3 });
  assert.match(q.message, /namespace\/orb@version/);
  assert.equal(asked, [], 'a bad reference is not looked up');

  const notDeclared = invalid(
    'version: 2.1\njobs:\n  build:\n    docker: [{image: x}]\n    steps:\n      - checkout\n      - aws/setup\nworkflows:\n  w:\n    jobs: [build]\n',
  );
  const r = problemAt(notDeclared, 'jobs.build.steps[1]');
  assert.is(r.line, 7);
  assert.match(r.message, /orb named aws/);
});

test('problems inside an orb name the orb and the line in its source', () => {
  const problems = invalid('version: 2.1\norbs:\n  b: acme/broken@1.0.0\nworkflows:\n  w:\n    jobs: [b/bad]\n');
  const p = problemAt(problems, 'jobs.bad.colour');
  assert.equal({ file: p.file, line: p.line }, { file: 'orb acme/broken@1.0.0', line: 6 });
});

test('orbs importing each other in a loop are a problem, not a hang', () => {
  const problems = invalid(
    'version: 2.1\norbs:\n  a: acme/loop-a@1.0.0\njobs:\n  build:\n    docker: [{image: x}]\n    steps: [a/a]\nworkflows:\n  w:\n    jobs: [build]\n',
  );
  assert.ok(
    problems.some((p) => /imports itself/.test(p.message)),
    JSON.stringify(problems),
  );
});

test('a YAML syntax error names the line it is on', () => {
  let problems = invalid('version: 2.1\njobs:\n  build:\n\tdocker: x\n');
  assert.is(problems[0]!.file, file);
  assert.match(problems[0]!.message, /^YAML: /);
  assert.is(problems[0]!.line, 4);
  problems = invalid('version: 2.1\njobs:\n  build:\n    image: a: b\n');
  assert.is(problems[0]!.line, 4);
});

test('version missing or unsupported', () => {
  const missing = invalid('jobs:\n  build:\n    docker: [{image: x}]\n    steps: [checkout]\nworkflows:\n  w:\n    jobs: [build]\n');
  const p = problemAt(missing, 'version');
  assert.is(p.file, file);
  assert.match(p.message, /version is missing/);
  const three = invalid('version: 3\njobs:\n  build:\n    docker: [{image: x}]\n    steps: [checkout]\nworkflows:\n  w:\n    jobs: [build]\n');
  const q = problemAt(three, 'version');
  assert.equal({ file: q.file, line: q.line }, { file, line: 1 });
  assert.match(q.message, /not supported/);
  assert.is(problemAt(invalid('version: "2.2"\njobs: {}\n'), 'version').line, 1);
  // 2, 2.0 and 2.1 all process
  for (const v of ['2', '2.0', '"2.1"'])
    valid(`version: ${v}\njobs:\n  build:\n    docker: [{image: x}]\n    steps: [checkout]\nworkflows:\n  w:\n    jobs: [build]\n`);
});

test('commands, executors, orbs and parameters need version 2.1', () => {
  const body = 'jobs:\n  build:\n    docker: [{image: x}]\n    steps: [checkout]\nworkflows:\n  w:\n    jobs: [build]\n';
  let p = problemAt(invalid(`version: 2\ncommands:\n  hi:\n    steps: [checkout]\n${body}`), 'commands');
  assert.equal({ file: p.file, line: p.line }, { file, line: 2 });
  assert.match(p.message, /2\.1/);
  p = problemAt(invalid(`version: 2\norbs:\n  node: circleci/node@5\n${body}`), 'orbs');
  assert.equal({ file: p.file, line: p.line }, { file, line: 2 });
  assert.equal(asked, [], 'no orb is looked up for a version 2 config');
  p = problemAt(invalid(`version: 2.0\nexecutors:\n  e:\n    docker: [{image: x}]\n${body}`), 'executors');
  assert.is(p.line, 2);
  p = problemAt(invalid(`version: 2\nparameters:\n  p:\n    type: string\n    default: x\n${body}`), 'parameters');
  assert.is(p.line, 2);
});

test('an unknown step, and a built-in step missing what it needs', () => {
  const problems = invalid(`version: 2.1
jobs:
  build:
    docker: [{image: alpine}]
    steps:
      - checkout
      - chekout
workflows:
  w:
    jobs: [build]
`);
  const p = problemAt(problems, 'jobs.build.steps[1]');
  assert.equal({ file: p.file, line: p.line }, { file, line: 7 });
  assert.match(p.message, /unknown step chekout/);
  const noPath = problemAt(
    invalid(
      'version: 2.1\njobs:\n  build:\n    docker: [{image: x}]\n    steps:\n      - store_artifacts:\n          destination: x\nworkflows:\n  w:\n    jobs: [build]\n',
    ),
    'jobs.build.steps[0].store_artifacts',
  );
  assert.is(noPath.line, 6);
  assert.match(noPath.message, /path/);
  const badKey = problemAt(
    invalid(
      'version: 2.1\njobs:\n  build:\n    docker: [{image: x}]\n    steps:\n      - run:\n          command: make\n          comand: make\nworkflows:\n  w:\n    jobs: [build]\n',
    ),
    'jobs.build.steps[0].run.comand',
  );
  assert.is(badKey.line, 8);
});

test('several problems are all reported, each with its place', () => {
  const problems = invalid(`version: 2.1
jobs:
  build:
    docker: [{image: alpine}]
    steps: [checkout]
workflows:
  one:
    jobs: [nope]
  two:
    jobs: [build, also-nope]
`);
  assert.equal(
    problems.map((p) => [p.key, p.line]),
    [
      ['workflows.one.jobs[0]', 8],
      ['workflows.two.jobs[1]', 10],
    ],
  );
});

// ---------------------------------------------------------------------------------------------
// garbage never throws

test('garbage comes back as problems, never as a throw', () => {
  const garbage: Array<[string, string]> = [
    ['a YAML list', '- version: 2.1\n- jobs\n'],
    ['a number', '42\n'],
    ['a string', 'hello\n'],
    ['empty text', ''],
    ['a comment only', '# nothing\n'],
    ['jobs: 5', 'version: 2.1\njobs: 5\nworkflows:\n  w:\n    jobs: [build]\n'],
    ['workflows: a list', 'version: 2.1\njobs:\n  build: {docker: [{image: x}], steps: [checkout]}\nworkflows: [a, b]\n'],
    ['workflow jobs: 5', 'version: 2.1\njobs:\n  build: {docker: [{image: x}], steps: [checkout]}\nworkflows:\n  w:\n    jobs: 5\n'],
    [
      'junk workflow entries',
      'version: 2.1\njobs:\n  build: {docker: [{image: x}], steps: [checkout]}\nworkflows:\n  w:\n    jobs: [null, 5, {a: 1, b: 2}, [x], {build: 5}]\n',
    ],
    ['junk steps', 'version: 2.1\njobs:\n  build: {docker: [{image: x}], steps: [null, 5, {}, {run: 5}, {when: 5}]}\nworkflows:\n  w:\n    jobs: [build]\n'],
    ['steps: a map', 'version: 2.1\njobs:\n  build: {docker: [{image: x}], steps: {a: 1}}\nworkflows:\n  w:\n    jobs: [build]\n'],
    ['a job that is a string', 'version: 2.1\njobs:\n  build: hello\nworkflows:\n  w:\n    jobs: [build]\n'],
    ['docker: a string', 'version: 2.1\njobs:\n  build: {docker: alpine, steps: [checkout]}\nworkflows:\n  w:\n    jobs: [build]\n'],
    ['no executor', 'version: 2.1\njobs:\n  build: {steps: [checkout]}\nworkflows:\n  w:\n    jobs: [build]\n'],
    ['parameters: 5', 'version: 2.1\nparameters: 5\njobs:\n  build: {docker: [{image: x}], steps: [checkout]}\nworkflows:\n  w:\n    jobs: [build]\n'],
    [
      'a parameter with no type',
      'version: 2.1\ncommands:\n  c:\n    parameters: {p: {default: 1}}\n    steps: [checkout]\njobs:\n  build: {docker: [{image: x}], steps: [c]}\nworkflows:\n  w:\n    jobs: [build]\n',
    ],
    ['orbs of junk', 'version: 2.1\norbs: {a: 5, b: [1]}\njobs:\n  build: {docker: [{image: x}], steps: [checkout]}\nworkflows:\n  w:\n    jobs: [build]\n'],
    [
      'an executor that is a number',
      'version: 2.1\nexecutors: {e: 5}\njobs:\n  build: {executor: e, steps: [checkout]}\nworkflows:\n  w:\n    jobs: [build]\n',
    ],
    [
      'a bad regex in when',
      'version: 2.1\njobs:\n  build: {docker: [{image: x}], steps: [checkout]}\nworkflows:\n  w:\n    when: {matches: {pattern: "(", value: x}}\n    jobs: [build]\n',
    ],
    [
      'a bad regex in filters',
      'version: 2.1\njobs:\n  build: {docker: [{image: x}], steps: [checkout]}\nworkflows:\n  w:\n    jobs: [{build: {filters: {branches: {only: "/(/"}}}}]\n',
    ],
    [
      'a matrix of junk',
      'version: 2.1\njobs:\n  build: {parameters: {a: {type: integer}}, docker: [{image: x}], steps: [checkout]}\nworkflows:\n  w:\n    jobs: [{build: {matrix: {parameters: {a: 5}}}}]\n',
    ],
    ['version as a map', 'version: {a: 1}\njobs: {}\n'],
    ['deeply nested lists', `version: 2.1\njobs: ${'['.repeat(5000)}${']'.repeat(5000)}\n`],
    ['deeply nested maps', `version: 2.1\njobs:\n${Array.from({ length: 1500 }, (_, i) => `${' '.repeat(i + 2)}k${i}:`).join('\n')} 1\n`],
    [
      'a command that calls itself',
      'version: 2.1\ncommands:\n  loop:\n    steps: [loop]\njobs:\n  build: {docker: [{image: x}], steps: [loop]}\nworkflows:\n  w:\n    jobs: [build]\n',
    ],
    [
      'commands calling each other',
      'version: 2.1\ncommands:\n  a:\n    steps: [b, b]\n  b:\n    steps: [a, a]\njobs:\n  build: {docker: [{image: x}], steps: [a]}\nworkflows:\n  w:\n    jobs: [build]\n',
    ],
    [
      'a command calling itself through a steps parameter',
      'version: 2.1\ncommands:\n  wrap:\n    parameters: {s: {type: steps}}\n    steps: [{wrap: {s: [checkout]}}]\njobs:\n  build: {docker: [{image: x}], steps: [{wrap: {s: []}}]}\nworkflows:\n  w:\n    jobs: [build]\n',
    ],
    ['an unresolved alias', 'version: 2.1\njobs:\n  build: *nope\n'],
  ];
  for (const [label, text] of garbage) {
    try {
      invalid(text);
    } catch (e) {
      throw new assert.Assertion({ message: `${label}: ${(e as Error).message}`, generated: false, operator: 'invalid', expects: 'problems', actual: 'other' });
    }
  }
  const self = invalid(garbage.find(([l]) => l === 'a command that calls itself')![1]);
  assert.match(self[0]!.message, /loop/);
  assert.is(self[0]!.key, 'commands.loop.steps[0]');
  assert.is(self[0]!.line, 4);
});

test('a YAML anchor that contains itself is a problem, not a throw', () => {
  invalid('version: 2.1\nx: &a [*a]\njobs:\n  build:\n    docker: [{image: x}]\n    steps: [checkout]\nworkflows:\n  w:\n    jobs: [build]\n');
  invalid('version: 2.1\njobs:\n  build: &b\n    docker: [{image: x}]\n    steps: [*b]\nworkflows:\n  w:\n    jobs: [build]\n');
});

test('anchors, aliases and merge keys are read as CircleCI reads them', () => {
  const r = valid(`version: 2.1
defaults: &defaults
  docker:
    - image: cimg/base:stable
  working_directory: ~/repo
jobs:
  build:
    <<: *defaults
    steps: [checkout]
  test:
    <<: *defaults
    working_directory: ~/other
    steps: [checkout]
workflows:
  w:
    jobs: [build, test]
`);
  assert.equal(r.config.jobs.build, { docker: [{ image: 'cimg/base:stable' }], working_directory: '~/repo', steps: ['checkout'] });
  assert.equal(r.config.jobs.test, { docker: [{ image: 'cimg/base:stable' }], working_directory: '~/other', steps: ['checkout'] });
  assert.not.match(r.yaml, /defaults/);
});

test('a small file cannot blow up: aliases of aliases, and commands that call each other many times, are problems in bounded time', () => {
  const started = Date.now();
  const aliases = `a: &a [x,x,x,x,x,x,x,x,x,x]\n${Array.from(
    { length: 8 },
    (_, i) =>
      `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10)
        .fill(`*${String.fromCharCode(97 + i)}`)
        .join(',')}]`,
  ).join('\n')}`;
  const r1 = processConfig(`version: 2.1\n${aliases}\n`, { resolveOrb: () => ({ error: 'none' }) });
  assert.is(r1.valid, false);
  assert.match(JSON.stringify(r1.problems), /alias/i);
  const commands = Array.from(
    { length: 8 },
    (_, i) => `  c${i}:\n    steps: [${Array.from({ length: 10 }, () => (i === 7 ? '{run: x}' : `c${i + 1}`)).join(', ')}]`,
  ).join('\n');
  const r2 = processConfig(`version: 2.1\ncommands:\n${commands}\njobs:\n  b:\n    docker: [{image: x}]\n    steps: [c0]\nworkflows:\n  w:\n    jobs: [b]\n`, {
    resolveOrb: () => ({ error: 'none' }),
  });
  assert.is(r2.valid, false);
  assert.match(JSON.stringify(r2.problems), /more than 100000 steps \(the limit of expanded steps\)/);
  assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
});

test('each limit of processing is one problem naming it, at the limit given: matrix combinations, jobs per workflow, steps, processed size', () => {
  const config = `version: 2.1
jobs:
  b:
    parameters: {x: {type: string}}
    docker: [{image: x}]
    steps: [{run: echo << parameters.x >>}, {run: two}]
workflows:
  w:
    jobs:
      - b: {matrix: {parameters: {x: [a, b, c]}}}
      - b: {name: last, x: z}
`;
  const at = (limits: Partial<typeof defaultConfigLimits>) => {
    const r = run(config, { limits: { ...defaultConfigLimits, ...limits } });
    return r.valid ? [] : r.problems.map((p) => `${p.key}: ${p.message}`);
  };
  assert.equal(at({}), []);
  assert.equal(at({ matrixCombinations: 3, jobsPerWorkflow: 4, steps: 8, processedBytes: 2_000 }), []);
  assert.equal(at({ matrixCombinations: 2 }), ['workflows.w.jobs[0].b.matrix: the matrix makes 3 jobs, more than 2 (the limit of matrix combinations)']);
  assert.equal(at({ jobsPerWorkflow: 3 }), ['workflows.w.jobs[1].b: workflow w has more than 3 jobs (the limit of jobs per workflow)']);
  assert.match(at({ steps: 7 }).join(), 'the config expands to more than 7 steps (the limit of expanded steps)');
  assert.equal(at({ processedBytes: 100 }), [
    ": the processed config is larger than 100 bytes (the limit of a processed config's size): do large parameters repeat in many steps?",
  ]);
});

test.run();
