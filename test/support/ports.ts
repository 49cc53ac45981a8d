import { createServer } from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago: for a server whose own URL must be known before it listens. */
export const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
