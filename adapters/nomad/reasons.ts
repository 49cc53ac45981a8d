import type { NomadAllocation, NomadAllocationMetric, NomadEvaluation } from './port.ts';

const counted = (what: Readonly<Record<string, number>> | null | undefined) =>
  Object.entries(what ?? {})
    .map(([k, n]) => `${k} on ${n} node${n === 1 ? '' : 's'}`)
    .join(', ');

/** Why Nomad could not place a group, in words close to `nomad job status`'s "Placement Failure". */
export const placementFailure = (m: NomadAllocationMetric): string => {
  const parts: string[] = [];
  const evaluated = m.NodesEvaluated ?? 0;
  if (evaluated === 0) parts.push('no node is eligible (none ready and eligible in the datacenters, or all draining)');
  if (m.ClassFiltered && Object.keys(m.ClassFiltered).length) parts.push(`class filtered: ${counted(m.ClassFiltered)}`);
  if (m.ConstraintFiltered && Object.keys(m.ConstraintFiltered).length)
    parts.push(
      `constraint not met: ${Object.entries(m.ConstraintFiltered)
        .map(([c, n]) => `${c} filtered ${n} node${n === 1 ? '' : 's'}`)
        .join(', ')}`,
    );
  if ((m.NodesExhausted ?? 0) > 0) {
    const dims = counted(m.DimensionExhausted);
    parts.push(`resources exhausted on ${m.NodesExhausted} of ${evaluated} node${evaluated === 1 ? '' : 's'}${dims ? ` (${dims})` : ''}`);
  }
  if (!parts.length) parts.push(`${evaluated} node${evaluated === 1 ? '' : 's'} evaluated, none placed it`);
  return parts.join('; ');
};

/** The newest evaluation's placement failure, if the newest evaluation failed to place. */
export const waitingReason = (evaluations: ReadonlyArray<NomadEvaluation>): string | null => {
  const newest = [...evaluations].sort((a, b) => b.CreateIndex - a.CreateIndex);
  for (const e of newest) {
    const failed = Object.values(e.FailedTGAllocs ?? {})[0];
    if (failed) return `Nomad cannot place it: ${placementFailure(failed)}`;
    if (e.Status === 'complete' || e.Status === 'failed')
      return e.Status === 'failed' ? `Nomad's evaluation failed: ${e.StatusDescription ?? 'no reason given'}` : null;
  }
  return null;
};

/** Whether an allocation has ended, and in words how (its task's last events say why). */
export const allocationEnd = (a: NomadAllocation): string | null => {
  if (!['complete', 'failed', 'lost'].includes(a.ClientStatus)) return null;
  const events = Object.values(a.TaskStates ?? {}).flatMap((t) => t.Events ?? []);
  const last = events.filter((e) => e.DisplayMessage || e.Message).at(-1);
  const why = last ? `: ${last.Type}${last.DisplayMessage || last.Message ? `, ${last.DisplayMessage || last.Message}` : ''}` : '';
  const how = a.ClientStatus === 'lost' ? 'was lost (its node stopped answering)' : a.ClientStatus === 'failed' ? 'failed' : 'exited';
  return `Nomad allocation ${a.ID.slice(0, 8)} on ${a.NodeName || a.NodeID} ${how}${why}`;
};
