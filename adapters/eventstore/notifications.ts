import type pg from 'pg';
import type { Database } from '../database/sql.ts';

/** The channel every append notifies, in the transaction that appends: PostgreSQL delivers it at commit. */
export const appendChannel = 'gyre_events';

export interface AppendListener {
  close(): Promise<void>;
}

/**
 * Calls `onAppend` whenever a transaction that appended commits, in any process: a LISTEN on a
 * connection of its own, outside the pool. When the server goes away (a restart) it connects again,
 * more slowly each time, and then calls `onAppend` once for whatever was appended meanwhile.
 */
export const listenForAppends = (db: Database, onAppend: () => void, onError: (error: unknown) => void): AppendListener => {
  let closed = false;
  let connection: pg.Client | null = null;
  let retry: NodeJS.Timeout | null = null;

  const connect = async (delayMs: number): Promise<void> => {
    if (closed) return;
    try {
      const c = (await db.client.acquireRawConnection()) as pg.Client;
      const lost = (error?: unknown) => {
        if (connection !== c) return;
        connection = null;
        if (error) onError(error);
        c.removeAllListeners('notification');
        void c.end().catch(() => {});
        schedule(100);
      };
      c.on('notification', onAppend);
      c.on('error', lost);
      c.on('end', () => lost());
      await c.query(`listen ${appendChannel}`);
      if (closed) return void (await c.end());
      connection = c;
      onAppend();
    } catch (error) {
      onError(error);
      schedule(Math.min(delayMs * 2, 5000));
    }
  };
  const schedule = (delayMs: number) => {
    if (closed) return;
    retry = setTimeout(() => void connect(delayMs), delayMs);
    retry.unref();
  };

  void connect(100);
  return {
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      const c = connection;
      connection = null;
      await c?.end().catch(() => {});
    },
  };
};
