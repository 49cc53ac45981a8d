import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, loadConfig } from './config.ts';

const test = suite('api/config');

test('defaults are the embedded mode', () => {
  const c = loadConfig({});
  assert.is(c.GYRE_PORT, 8080);
  assert.is(c.GYRE_HOST, '127.0.0.1');
  assert.is(c.GYRE_DATA_DIR, './.gyre');
  assert.is(c.GYRE_DATABASE_URL, undefined);
  assert.is(c.GYRE_GITHUB_URL, 'https://github.com');
  assert.is(c.GYRE_OBJECT_STORE_URL, undefined, 'objects under the data directory');
  assert.is(c.GYRE_S3_FORCE_PATH_STYLE, 'false');
  assert.is(c.GYRE_GITHUB_PRIVATE_REPOS, 'false', 'public repositories only: sign-in does not ask for the repo scope');
  assert.is(c.GYRE_SESSION_MAX_AGE_HOURS, 168, 'sessions last a week');
});

test('an S3-compatible object store is configured by URL, endpoint and addressing style', () => {
  const c = loadConfig({ GYRE_OBJECT_STORE_URL: 's3://gyre-objects/ci', GYRE_S3_ENDPOINT: 'http://minio:9000', GYRE_S3_FORCE_PATH_STYLE: 'true' });
  assert.equal([c.GYRE_OBJECT_STORE_URL, c.GYRE_S3_ENDPOINT, c.GYRE_S3_FORCE_PATH_STYLE], ['s3://gyre-objects/ci', 'http://minio:9000', 'true']);
});

test('values are parsed and checked', () => {
  assert.is(loadConfig({ GYRE_SESSION_MAX_AGE_HOURS: '0.5' }).GYRE_SESSION_MAX_AGE_HOURS, 0.5, 'a session may last half an hour');
  const c = loadConfig({ GYRE_PORT: '9000', GYRE_DATABASE_URL: 'postgres://u@db:5432/gyre', GYRE_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') });
  assert.is(c.GYRE_PORT, 9000);
  assert.is(c.GYRE_DATABASE_URL, 'postgres://u@db:5432/gyre');
});

test('an EventStoreDB node or cluster is chosen by connection string', () => {
  assert.is(loadConfig({ GYRE_EVENTSTORE_URL: 'esdb://127.0.0.1:2113?tls=false' }).GYRE_EVENTSTORE_URL, 'esdb://127.0.0.1:2113?tls=false');
  const cluster = 'esdb+discover://gyre:pw@cluster.example:2113?tlsCAFile=/etc/ca.crt';
  assert.is(loadConfig({ GYRE_EVENTSTORE_URL: cluster }).GYRE_EVENTSTORE_URL, cluster);
  assert.is(loadConfig({}).GYRE_EVENTSTORE_URL, undefined, 'unset keeps the events in the SQL database');
});

test('Nomad: off by default; its settings parsed, lists split, CPU as cores or MHz, constraints as JSON', () => {
  const off = loadConfig({});
  assert.is(off.GYRE_NOMAD_ADDR, undefined);
  assert.equal(
    [off.GYRE_NOMAD_NAMESPACE, off.GYRE_NOMAD_DATACENTERS, off.GYRE_NOMAD_CLASSES, off.GYRE_NOMAD_AGENT_COMMAND, off.GYRE_NOMAD_CPU],
    ['default', ['dc1'], ['docker:*'], ['gyre'], 'cores'],
  );
  const c = loadConfig({
    GYRE_NOMAD_ADDR: 'https://nomad.example.com:4646',
    GYRE_NOMAD_DATACENTERS: 'eu-1, eu-2',
    GYRE_NOMAD_CLASSES: 'docker:*,machine:large',
    GYRE_NOMAD_AGENT_COMMAND: 'node /opt/gyre/bin/gyre.mjs',
    GYRE_NOMAD_CPU: '2400',
    GYRE_NOMAD_CONSTRAINTS: '{"docker:large": [{"attribute": "${meta.size}", "operator": "=", "value": "large"}]}',
  });
  assert.equal(c.GYRE_NOMAD_DATACENTERS, ['eu-1', 'eu-2']);
  assert.equal(c.GYRE_NOMAD_CLASSES, ['docker:*', 'machine:large']);
  assert.equal(c.GYRE_NOMAD_AGENT_COMMAND, ['node', '/opt/gyre/bin/gyre.mjs']);
  assert.equal(c.GYRE_NOMAD_CPU, { mhzPerCpu: 2400 });
  assert.equal(c.GYRE_NOMAD_CONSTRAINTS, { 'docker:large': [{ attribute: '${meta.size}', operator: '=', value: 'large' }] });
  for (const [variable, value] of [
    ['GYRE_NOMAD_ADDR', 'nomad:4646'],
    ['GYRE_NOMAD_CPU', 'fast'],
    ['GYRE_NOMAD_DATACENTERS', 'dc1,,dc2'],
    ['GYRE_NOMAD_CONSTRAINTS', '{"docker:*": [{"attribute": "x"}]}'],
    ['GYRE_NOMAD_CONSTRAINTS', 'not json'],
  ]) {
    assert.throws(
      () => loadConfig({ [variable!]: value }),
      (e: Error) => e instanceof ConfigError && e.message.includes(`${variable}:`) && !e.message.includes(value!),
      `${variable}=${value}`,
    );
  }
});

test('a wrong value stops start-up with a message naming the variable, never the value', () => {
  const secret = 'canary-secret-value-123';
  for (const [env, name] of [
    [{ GYRE_PORT: 'eighty' }, 'GYRE_PORT'],
    [{ GYRE_PORT: '70000' }, 'GYRE_PORT'],
    [{ GYRE_DATABASE_URL: 'mysql://x' }, 'GYRE_DATABASE_URL'],
    [{ GYRE_MASTER_KEY: secret }, 'GYRE_MASTER_KEY'],
    [{ GYRE_GITHUB_URL: secret }, 'GYRE_GITHUB_URL'],
    [{ GYRE_LOG_LEVEL: 'loud' }, 'GYRE_LOG_LEVEL'],
    [{ GYRE_OBJECT_STORE_URL: 'https://bucket/x' }, 'GYRE_OBJECT_STORE_URL'],
    [{ GYRE_OBJECT_STORE_URL: 's3:///no-bucket' }, 'GYRE_OBJECT_STORE_URL'],
    [{ GYRE_S3_ENDPOINT: 'minio:9000' }, 'GYRE_S3_ENDPOINT'],
    [{ GYRE_S3_FORCE_PATH_STYLE: 'yes' }, 'GYRE_S3_FORCE_PATH_STYLE'],
    [{ GYRE_GITHUB_PRIVATE_REPOS: 'yes' }, 'GYRE_GITHUB_PRIVATE_REPOS'],
    [{ GYRE_EVENTSTORE_URL: 'http://127.0.0.1:2113' }, 'GYRE_EVENTSTORE_URL'],
    [{ GYRE_EVENTSTORE_URL: secret }, 'GYRE_EVENTSTORE_URL'],
    [{ GYRE_SESSION_MAX_AGE_HOURS: '0' }, 'GYRE_SESSION_MAX_AGE_HOURS'],
    [{ GYRE_SESSION_MAX_AGE_HOURS: 'a week' }, 'GYRE_SESSION_MAX_AGE_HOURS'],
  ] as const) {
    try {
      loadConfig(env);
      assert.unreachable(`accepted ${name}`);
    } catch (e) {
      assert.instance(e, ConfigError);
      assert.match((e as Error).message, name);
      assert.not.match((e as Error).message, secret);
    }
  }
});

test.run();
