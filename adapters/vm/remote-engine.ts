import Dockerode from 'dockerode';
import forge from 'node-forge';
import { z } from 'zod';

/**
 * A remote Docker engine's TLS, as Docker's own guide sets it up: a CA of the instance's own, which
 * signs the client certificate the job gets here and the server certificate the instance makes at boot
 * (so it can name the addresses it has); the engine accepts only clients its CA signed. node-forge
 * makes the certificates (Node's crypto reads X.509 but cannot write it); the keys are RSA, made by
 * Node's own crypto through it.
 */
export const EngineTls = z.object({ caCert: z.string(), caKey: z.string(), clientCert: z.string(), clientKey: z.string() });
export type EngineTls = z.infer<typeof EngineTls>;

const validDays = 30;

const certificate = (o: {
  subject: string;
  issuer: string;
  publicKey: forge.pki.rsa.PublicKey;
  signingKey: forge.pki.rsa.PrivateKey;
  extensions: object[];
}): string => {
  const cert = forge.pki.createCertificate();
  cert.publicKey = o.publicKey;
  // a positive serial of 16 random bytes
  cert.serialNumber = `01${forge.util.bytesToHex(forge.random.getBytesSync(15))}`;
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + validDays * 24 * 3600_000);
  cert.setSubject([{ name: 'commonName', value: o.subject }]);
  cert.setIssuer([{ name: 'commonName', value: o.issuer }]);
  cert.setExtensions(o.extensions);
  cert.sign(o.signingKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
};

/** A new CA, and a client certificate it signed, for one instance's engine. */
export const makeEngineTls = (instanceName: string): EngineTls => {
  const ca = forge.pki.rsa.generateKeyPair({ bits: 2048 });
  const client = forge.pki.rsa.generateKeyPair({ bits: 2048 });
  const caName = `gyre remote docker CA ${instanceName}`;
  return {
    caCert: certificate({
      subject: caName,
      issuer: caName,
      publicKey: ca.publicKey,
      signingKey: ca.privateKey,
      extensions: [
        { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
        { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      ],
    }),
    caKey: forge.pki.privateKeyToPem(ca.privateKey),
    clientCert: certificate({
      subject: 'gyre job',
      issuer: caName,
      publicKey: client.publicKey,
      signingKey: ca.privateKey,
      extensions: [
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', clientAuth: true },
      ],
    }),
    clientKey: forge.pki.privateKeyToPem(client.privateKey),
  };
};

/** Whether the engine at `address:port` answers `/_ping` over TLS to the instance's client certificate (its CA checked, and its name). */
export const engineAnswers = async (address: string, port: number, tls: EngineTls, timeoutMs = 5000): Promise<boolean> => {
  const docker = new Dockerode({
    protocol: 'https',
    host: address,
    port,
    ca: tls.caCert,
    cert: tls.clientCert,
    key: tls.clientKey,
    timeout: timeoutMs,
  });
  try {
    await docker.ping();
    return true;
  } catch {
    return false;
  }
};
