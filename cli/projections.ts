import { CliError, graphql, type Connection } from './client.ts';

interface ReadModel {
  name: string;
  state: 'BUILDING' | 'SWAPPED' | 'FAILED';
  eventsApplied: number;
}
interface Rebuild {
  id: string;
  state: 'RUNNING' | 'DONE' | 'FAILED';
  done: boolean;
  error: string | null;
  eventsRead: number;
  eventsInLog: number;
  readModels: ReadModel[];
}
const fields = 'id state done error eventsRead eventsInLog readModels { name state eventsApplied }';

const percent = (r: Rebuild) => (r.eventsInLog > 0 ? ` (${Math.min(100, Math.floor((100 * r.eventsRead) / r.eventsInLog))}%)` : '');
const progressLine = (r: Rebuild) => {
  const swapped = r.readModels.filter((m) => m.state === 'SWAPPED').map((m) => m.name);
  return `read ${r.eventsRead.toLocaleString('en')} of ~${r.eventsInLog.toLocaleString('en')} events${percent(r)}; swapped in ${swapped.length} of ${r.readModels.length}${swapped.length ? `: ${swapped.join(', ')}` : ''}`;
};

export interface RebuildCommand {
  readonly names: ReadonlyArray<string>;
  readonly json: boolean;
  /** Where progress lines go (stderr), one when it changes. */
  readonly progress: (line: string) => void;
  readonly pollMs?: number;
}

/**
 * `gyre projections rebuild [name…]`: asks the server to rebuild the read models (every one when none
 * is named), shows progress while it runs, and returns once each is swapped in; a failure is an error.
 */
export const rebuildProjections = async (c: Connection, command: RebuildCommand): Promise<string> => {
  const started = await graphql<{ rebuildProjections: Rebuild }>(c, `mutation($names: [String!]) { rebuildProjections(names: $names) { ${fields} } }`, {
    names: command.names.length ? command.names : null,
  });
  let r = started.rebuildProjections;
  command.progress(`rebuild ${r.id} of ${r.readModels.map((m) => m.name).join(', ')}`);
  let last = '';
  for (;;) {
    const line = progressLine(r);
    if (line !== last) command.progress(line);
    last = line;
    if (r.done) break;
    await new Promise((done) => setTimeout(done, command.pollMs ?? 500));
    const polled = await graphql<{ projectionRebuild: Rebuild | null }>(c, `query($id: ID!) { projectionRebuild(id: $id) { ${fields} } }`, { id: r.id });
    if (!polled.projectionRebuild) throw new CliError(`rebuild ${r.id} is gone from the server`);
    r = polled.projectionRebuild;
  }
  if (r.state === 'FAILED') throw new CliError(`rebuild ${r.id} failed: ${r.error ?? 'no reason given'}`);
  if (command.json) return JSON.stringify(r, null, 2);
  return r.readModels.map((m) => `${m.name}: rebuilt from ${m.eventsApplied.toLocaleString('en')} events, swapped in`).join('\n');
};

/** `gyre projections <action>`. */
export const projections = (c: Connection, action: string | undefined, names: ReadonlyArray<string>, json: boolean): Promise<string> => {
  if (action === 'rebuild') return rebuildProjections(c, { names, json, progress: (line) => process.stderr.write(`${line}\n`) });
  throw new CliError(`unknown projections command "${action ?? ''}": use gyre projections rebuild [name…]`);
};
