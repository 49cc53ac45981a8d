import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { engineAnswers, makeEngineTls } from './remote-engine.ts';

/** openssl as the instance runs it: its server key signed by the instance's CA, naming 127.0.0.1. */
const serverCertificate = (dir: string, tls: ReturnType<typeof makeEngineTls>) => {
  writeFileSync(join(dir, 'ca.pem'), tls.caCert);
  writeFileSync(join(dir, 'ca-key.pem'), tls.caKey);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  const sh = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  sh('genrsa', '-out', 'server-key.pem', '2048');
  sh('req', '-new', '-key', 'server-key.pem', '-subj', '/CN=gyre remote docker', '-out', 'server.csr');
  sh(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca-key.pem',
    '-CAcreateserial',
    '-days',
    '30',
    '-extfile',
    'server.ext',
    '-out',
    'server.pem',
  );
  return { cert: readFileSync(join(dir, 'server.pem'), 'utf8'), key: readFileSync(join(dir, 'server-key.pem'), 'utf8') };
};

test("the client certificate is the instance CA's, for clients; an engine of that CA answers, one of another CA does not", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gyre-engine-tls-'));
  try {
    const tls = makeEngineTls('gyre-i1');
    writeFileSync(join(dir, 'client.pem'), tls.clientCert);
    writeFileSync(join(dir, 'ca.pem'), tls.caCert);
    assert.match(execFileSync('openssl', ['verify', '-CAfile', 'ca.pem', '-purpose', 'sslclient', 'client.pem'], { cwd: dir }).toString(), /client\.pem: OK/);
    assert.throws(() => execFileSync('openssl', ['verify', '-CAfile', 'ca.pem', '-purpose', 'sslserver', 'client.pem'], { cwd: dir, stdio: 'pipe' }));

    const server = serverCertificate(dir, tls);
    const seen: Array<string | undefined> = [];
    // an engine's TLS as dockerd --tlsverify has it: only clients its CA signed
    const engine = createServer({ ...server, ca: tls.caCert, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      seen.push(req.url);
      res.end('OK');
    });
    await new Promise<void>((r) => engine.listen(0, '127.0.0.1', r));
    const { port } = engine.address() as AddressInfo;
    try {
      assert.ok(await engineAnswers('127.0.0.1', port, tls));
      assert.equal(seen, ['/_ping']);
      const stranger = makeEngineTls('gyre-i2');
      assert.not.ok(await engineAnswers('127.0.0.1', port, stranger), 'another CA: the engine refuses the client and the client the engine');
      assert.not.ok(await engineAnswers('127.0.0.1', port, { ...tls, caCert: stranger.caCert }), "the engine's certificate is checked");
    } finally {
      engine.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
