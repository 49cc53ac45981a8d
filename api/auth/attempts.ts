import { GyreError } from '../../domain/errors.ts';

/**
 * A fixed-window limit per key, for operations that are not HTTP routes of their own (a GraphQL
 * mutation); routes use @fastify/rate-limit.
 */
export const createAttemptLimit = (max: number, windowMs: number) => {
  const windows = new Map<string, { start: number; count: number }>();
  return (key: string) => {
    const now = Date.now();
    const w = windows.get(key);
    if (!w || now - w.start >= windowMs) {
      windows.set(key, { start: now, count: 1 });
      return;
    }
    if (++w.count > max) {
      throw new GyreError(
        `too many attempts: at most ${max} per ${Math.round(windowMs / 1000)} s; try again in ${Math.ceil((w.start + windowMs - now) / 1000)} s`,
        'RATE_LIMITED',
        429,
      );
    }
  };
};
