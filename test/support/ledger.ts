import { defineProjection, type Projection } from '../../projections/projection.ts';

/**
 * A projection that records every event it applies: a second application of one event raises its
 * `applied` count, so a test can tell "once" from "twice" and from "never".
 */
export const ledgerProjection = (
  name: string,
  options: { crashInside?: (batch: number) => boolean; msPerEvent?: number; onBatch?: (batch: number) => void } = {},
): Projection<'ledger'> => {
  let batch = 0;
  const p = defineProjection({
    name,
    version: 1,
    handles: [{ prefix: `${name}.` }],
    tables: ['ledger'],
    async migrate(db, t) {
      await db.raw(`create table if not exists ${t.ledger} (event_id uuid primary key, applied int not null default 1)`);
    },
    async apply(events, trx, t) {
      batch++;
      options.onBatch?.(batch);
      for (const [i, e] of events.entries()) {
        await trx.raw(`insert into ${t.ledger} (event_id) values (?) on conflict (event_id) do update set applied = ${t.ledger}.applied + 1`, [e.id]);
        if (options.msPerEvent) await new Promise((r) => setTimeout(r, options.msPerEvent));
        if (i === Math.floor(events.length / 2) && options.crashInside?.(batch)) throw new Error(`crash inside batch ${batch}`);
      }
    },
  });
  return { ...p, tables: { ledger: `${name}_v1` } };
};
