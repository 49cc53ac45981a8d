/** A word for a POSIX shell: single-quoted, its single quotes closed and escaped. */
const quoted = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * The plain shell an instance runs at first boot: the one-shot agent, named after the instance, with
 * the instance's single-use token, reaching Gyre at its public URL. The image has the agent's command
 * (`gyre`, or whatever the operator configured) on its PATH.
 */
export const agentStartupScript = (o: { agentCommand: ReadonlyArray<string>; gyreUrl: string; token: string; agentName: string }): string =>
  [
    '#!/bin/sh',
    `# Gyre VM service: ${o.agentName}`,
    `GYRE_URL=${quoted(o.gyreUrl)}`,
    `GYRE_TOKEN=${quoted(o.token)}`,
    'export GYRE_URL GYRE_TOKEN',
    `work="\${TMPDIR:-/tmp}/gyre-${o.agentName}"`,
    `exec ${o.agentCommand.map(quoted).join(' ')} agent --one-shot --name ${quoted(o.agentName)} --work-dir "$work"`,
    '',
  ].join('\n');

/** The port a remote Docker engine answers on, over TLS, as Docker's own convention has it. */
export const remoteDockerPort = 2376;

/**
 * The plain shell a REMOTE_DOCKER instance runs at first boot: it makes its server key and has it
 * signed by the instance's own CA (whose key comes only in this script, and is removed once used),
 * naming every address of the machine, then runs the Docker engine on port 2376 accepting only
 * clients with a certificate of that CA. The image has `openssl` and the engine's command (`dockerd`,
 * or whatever the operator configured) on its PATH.
 */
export const remoteDockerStartupScript = (o: { dockerdCommand: ReadonlyArray<string>; name: string; caCert: string; caKey: string }): string =>
  [
    '#!/bin/sh',
    `# Gyre VM service: ${o.name}`,
    'set -e',
    'umask 077',
    `tls="\${TMPDIR:-/tmp}/gyre-${o.name}"`,
    'mkdir -p "$tls"',
    'cd "$tls"',
    "cat > ca.pem <<'GYRE_CA'",
    o.caCert.trim(),
    'GYRE_CA',
    "cat > ca-key.pem <<'GYRE_CA_KEY'",
    o.caKey.trim(),
    'GYRE_CA_KEY',
    'names="IP:127.0.0.1,DNS:localhost"',
    'for ip in $(hostname -I 2>/dev/null || ip -o addr show | awk \'{split($4, a, "/"); print a[1]}\'); do names="$names,IP:$ip"; done',
    'printf "subjectAltName=%s\\nextendedKeyUsage=serverAuth\\n" "$names" > server.ext',
    'openssl genrsa -out server-key.pem 2048 2>/dev/null',
    'openssl req -new -key server-key.pem -subj "/CN=gyre remote docker" -out server.csr',
    'openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 30 -extfile server.ext -out server.pem 2>/dev/null',
    'rm -f ca-key.pem server.csr',
    `exec ${o.dockerdCommand.map(quoted).join(' ')} --tlsverify --tlscacert "$tls/ca.pem" --tlscert "$tls/server.pem" --tlskey "$tls/server-key.pem" -H tcp://0.0.0.0:${remoteDockerPort}`,
    '',
  ].join('\n');
