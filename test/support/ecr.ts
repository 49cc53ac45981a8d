import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One GetAuthorizationToken the stand-in answered or refused. */
export interface EcrCall {
  readonly accessKeyId: string;
  /** The region of the SigV4 credential scope: where the client meant to ask. */
  readonly region: string;
  readonly at: number;
}

/**
 * A stand-in for Amazon ECR's GetAuthorizationToken on 127.0.0.1, after the API reference: a POST of
 * the JSON 1.1 protocol (`X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken`),
 * SigV4-signed (`Authorization: AWS4-HMAC-SHA256 Credential=<key id>/<date>/<region>/ecr/aws4_request, …`).
 * A known key id gets `{authorizationData: [{authorizationToken: base64("AWS:<password>"), expiresAt, proxyEndpoint}]}`;
 * any other an UnrecognizedClientException, as ECR answers keys it does not know.
 */
export const startEcrStandIn = async (passwords: Readonly<Record<string, string>>) => {
  const calls: EcrCall[] = [];
  const refused: string[] = [];
  const fail = (res: ServerResponse, status: number, type: string, message: string) => {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify({ __type: type, message }));
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const target = req.headers['x-amz-target'];
      if (req.method !== 'POST' || target !== 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken') {
        refused.push(`${req.method} ${String(target)}`);
        return fail(res, 400, 'UnknownOperationException', `unknown operation ${String(target)}`);
      }
      if (!String(req.headers['content-type']).startsWith('application/x-amz-json-1.1')) return fail(res, 400, 'SerializationException', 'wrong content type');
      const signed = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([a-z0-9-]+)\/ecr\/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$/.exec(
        String(req.headers.authorization ?? ''),
      );
      if (!signed || !req.headers['x-amz-date']) {
        refused.push(`unsigned: ${String(req.headers.authorization)}`);
        return fail(res, 403, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
      }
      try {
        JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return fail(res, 400, 'SerializationException', 'the body is not JSON');
      }
      const [, accessKeyId = '', , region = ''] = signed;
      calls.push({ accessKeyId, region, at: Date.now() });
      const password = passwords[accessKeyId];
      if (password === undefined) return fail(res, 400, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
      const authorizationToken = Buffer.from(`AWS:${password}`).toString('base64');
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' }).end(
        JSON.stringify({
          authorizationData: [
            {
              authorizationToken,
              expiresAt: Math.floor(Date.now() / 1000) + 12 * 3600,
              proxyEndpoint: `https://123456789012.dkr.ecr.${region}.amazonaws.com`,
            },
          ],
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    /** Requests that were not a signed GetAuthorizationToken. */
    refused,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};

/**
 * A registry on 127.0.0.1 that asks for Basic auth, records what it is given, and has no image:
 * every pull from it fails, and no traffic leaves the machine.
 */
export const startEmptyRegistry = async () => {
  const authorizations: string[] = [];
  const server = createServer((req, res) => {
    const auth = req.headers.authorization;
    const headers = { 'docker-distribution-api-version': 'registry/2.0', 'content-type': 'application/json' };
    if (!auth)
      return res
        .writeHead(401, { ...headers, 'www-authenticate': 'Basic realm="gyre-test"' })
        .end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
    authorizations.push(auth);
    if (req.url === '/v2/' || req.url === '/v2') return res.writeHead(200, headers).end('{}');
    res.writeHead(404, headers).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** The Authorization headers the pulls sent, as `Basic base64(user:password)`. */
    authorizations,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};
