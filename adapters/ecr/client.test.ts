import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startEcrStandIn } from '../../test/support/ecr.ts';
import { createEcr } from './client.ts';
import { EcrAuthError, ecrRegionOf } from './port.ts';

const keyId = 'AKIAGYRETESTKEY00001';
const secret = 'gyre-test-secret/never+shown';
const password = 'eyJwYXlsb2FkIjoiZWNyLXRlc3QifQ==:with-a-colon';
const ecr = await startEcrStandIn({ [keyId]: password });
const image = '123456789012.dkr.ecr.eu-west-2.amazonaws.com/app:1';

const test = suite('adapters/ecr: GetAuthorizationToken through the AWS SDK, against a stand-in');
test.before.each(() => {
  ecr.calls.length = 0;
});
test.after(() => ecr.close());

test('the region is the one the image host names; any other host names none', () => {
  assert.is(ecrRegionOf(image), 'eu-west-2');
  assert.is(ecrRegionOf('123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/a/b:c'), 'us-gov-west-1');
  assert.is(ecrRegionOf('123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app'), 'cn-north-1');
  assert.is(ecrRegionOf('cimg/base:stable'), null);
  assert.is(ecrRegionOf('127.0.0.1:5000/app:1'), null);
  assert.is(ecrRegionOf('public.ecr.aws/docker/library/busybox'), null);
});

test("one signed GetAuthorizationToken in the image's region with the given key id; the token decodes to AWS and the password", async () => {
  const creds = await createEcr({ endpoint: ecr.endpoint }).registryCredentials(image, { accessKeyId: keyId, secretAccessKey: secret });
  assert.equal(creds, { username: 'AWS', password });
  assert.equal(
    ecr.calls.map((c) => [c.accessKeyId, c.region]),
    [[keyId, 'eu-west-2']],
  );
  assert.equal(ecr.refused, []);
});

test("the SDK's own endpoint setting, AWS_ENDPOINT_URL_ECR, points the client without an option", async () => {
  const before = process.env.AWS_ENDPOINT_URL_ECR;
  process.env.AWS_ENDPOINT_URL_ECR = ecr.endpoint;
  try {
    const creds = await createEcr().registryCredentials(image, { accessKeyId: keyId, secretAccessKey: secret });
    assert.is(creds.password, password);
    assert.is(ecr.calls.length, 1);
  } finally {
    if (before === undefined) delete process.env.AWS_ENDPOINT_URL_ECR;
    else process.env.AWS_ENDPOINT_URL_ECR = before;
  }
});

test('a region given to the client serves hosts that name none', async () => {
  await createEcr({ endpoint: ecr.endpoint, region: 'ap-south-1' }).registryCredentials('registry.internal:5000/app:1', {
    accessKeyId: keyId,
    secretAccessKey: secret,
  });
  assert.equal(
    ecr.calls.map((c) => c.region),
    ['ap-south-1'],
  );
});

const refusal = async (run: () => Promise<unknown>): Promise<EcrAuthError> => {
  try {
    await run();
  } catch (e) {
    assert.instance(e, EcrAuthError);
    return e as EcrAuthError;
  }
  return assert.unreachable('answered credentials') as never;
};

test("keys ECR does not know are an EcrAuthError naming the image and ECR's reason, never the secret key", async () => {
  const e = await refusal(() =>
    createEcr({ endpoint: ecr.endpoint }).registryCredentials(image, { accessKeyId: 'AKIAUNKNOWN000000000', secretAccessKey: secret }),
  );
  assert.is(e.code, 'ECR_AUTH_FAILED');
  assert.ok(e.message.includes(image), e.message);
  assert.ok(e.message.includes('UnrecognizedClientException'), e.message);
  assert.not.ok(e.message.includes(secret), e.message);
  assert.not.ok(JSON.stringify(e).includes(secret));
  assert.is(ecr.calls.length, 1, 'a refusal is not retried');
});

test('no call when the region cannot be told or a key is empty (a $NAME no variable sets)', async () => {
  const noRegion = await refusal(() =>
    createEcr({ endpoint: ecr.endpoint }).registryCredentials('registry.internal:5000/app:1', { accessKeyId: keyId, secretAccessKey: secret }),
  );
  assert.ok(noRegion.message.includes('region'), noRegion.message);
  const empty = await refusal(() => createEcr({ endpoint: ecr.endpoint }).registryCredentials(image, { accessKeyId: '', secretAccessKey: secret }));
  assert.ok(empty.message.includes('empty aws_access_key_id'), empty.message);
  assert.is(ecr.calls.length, 0);
});

test('ECR out of reach is an EcrAuthError too', async () => {
  const e = await refusal(() => createEcr({ endpoint: 'http://127.0.0.1:1' }).registryCredentials(image, { accessKeyId: keyId, secretAccessKey: secret }));
  assert.ok(e.message.includes(image), e.message);
  assert.not.ok(e.message.includes(secret));
});

test.run();
