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
