import { GyreError } from '../../domain/errors.ts';

/** How many subscriptions may be open at once, and how long a subscriber may take to receive one event. */
export interface SubscriptionLimits {
  readonly perConnection: number;
  readonly perUser: number;
  readonly slowConsumerMs: number;
}

/** What one WebSocket holds: every subscription on it shares this object through its context. */
export interface Connection {
  open: number;
  /** The end of the turn of the last subscription started on it. */
  turn: Promise<void>;
  /** Cuts the socket off (a subscriber too slow to read would not read a close frame either): mercurius then ends every subscription on it. */
  readonly drop: (reason: string) => void;
}

const tooMany = (limit: number, scope: string, setting: string) =>
  new GyreError(`too many open subscriptions ${scope}: at most ${limit} (${setting}); end one before starting another`, 'TOO_MANY_SUBSCRIPTIONS', 429);

/**
 * Bounds what live subscriptions may hold: a place per subscription, counted per connection and
 * per user, given back when it ends; and a subscriber that has not taken an event within
 * `slowConsumerMs` has its connection closed rather than events kept for it.
 */
export type SubscriptionGate = ReturnType<typeof createSubscriptionGate>;

export const createSubscriptionGate = (limits: SubscriptionLimits) => {
  const byUser = new Map<string, number>();

  const take = (connection: Connection, userId: string | null): (() => void) => {
    if (connection.open >= limits.perConnection) throw tooMany(limits.perConnection, 'on this connection', 'GYRE_SUBSCRIPTIONS_PER_CONNECTION');
    const mine = userId === null ? 0 : (byUser.get(userId) ?? 0);
    if (userId !== null && mine >= limits.perUser) throw tooMany(limits.perUser, 'for this account', 'GYRE_SUBSCRIPTIONS_PER_USER');
    connection.open++;
    if (userId !== null) byUser.set(userId, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      connection.open--;
      if (userId === null) return;
      const left = (byUser.get(userId) ?? 1) - 1;
      if (left > 0) byUser.set(userId, left);
      else byUser.delete(userId);
    };
  };

  /** The subscription's events, holding its place until it ends, and dropping its connection when it falls behind. */
  const held = (source: AsyncIterator<unknown>, connection: Connection, userId: string | null): AsyncIterableIterator<unknown> => {
    let release: () => void;
    try {
      release = take(connection, userId);
    } catch (e) {
      void source.return?.();
      throw e;
    }
    let waiting: NodeJS.Timeout | null = null;
    const end = async () => {
      if (waiting) clearTimeout(waiting);
      release();
      return (await source.return?.()) ?? { done: true as const, value: undefined };
    };
    return {
      async next() {
        if (waiting) clearTimeout(waiting);
        let r: IteratorResult<unknown>;
        try {
          r = await source.next();
        } catch (e) {
          release();
          throw e;
        }
        if (r.done) {
          release();
          return r;
        }
        // mercurius asks for the next event once this one is written to the socket
        waiting = setTimeout(() => connection.drop(`no event taken within ${limits.slowConsumerMs} ms`), limits.slowConsumerMs);
        waiting.unref();
        return r;
      },
      return: end,
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  };

  /**
   * Waits for this subscription's turn on its connection: a socket's messages arrive together and
   * mercurius starts them all at once, so each takes a turn of the event loop of its own, and every
   * other request gets one in between.
   */
  const turn = (connection: Connection): Promise<void> => {
    connection.turn = connection.turn.then(() => new Promise<void>((resolve) => setImmediate(resolve)));
    return connection.turn;
  };

  /** Refuses a subscription at once when its connection is full already, before anything else is done for it. */
  const refuseIfFull = (connection: Connection): void => {
    if (connection.open >= limits.perConnection) throw tooMany(limits.perConnection, 'on this connection', 'GYRE_SUBSCRIPTIONS_PER_CONNECTION');
  };

  return { held, turn, refuseIfFull, openFor: (userId: string) => byUser.get(userId) ?? 0 };
};
