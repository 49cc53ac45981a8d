import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';

/**
 * Git's "dumb" HTTP protocol on 127.0.0.1: bare repositories served as static files. `slowMs` holds
 * each `info/refs` (the first request of every fetch) that long, and the server counts how many it
 * holds at once, so a test sees how many fetches Gyre runs together.
 */
export const startGitHttp = async (options: { slowMs?: number } = {}) => {
  const root = mkdtempSync(join(tmpdir(), 'gyre-git-http-'));
  let holding = 0;
  let mostAtOnce = 0;
  const server = createServer(async (req, res) => {
    const path = normalize(join(root, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    const first = path.endsWith('/info/refs');
    if (first) {
      holding++;
      mostAtOnce = Math.max(mostAtOnce, holding);
      await new Promise((r) => setTimeout(r, options.slowMs ?? 0));
      holding--;
    }
    if (!path.startsWith(root) || !existsSync(path) || statSync(path).isDirectory()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    createReadStream(path).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    /** Serves a bare clone of the repository at `dir` as `<url>/<name>.git`; answers its URL. */
    serve(name: string, dir: string) {
      const bare = join(root, `${name}.git`);
      rmSync(bare, { recursive: true, force: true });
      execFileSync('git', ['clone', '--quiet', '--bare', dir, bare]);
      execFileSync('git', ['update-server-info'], { cwd: bare });
      return `http://127.0.0.1:${port}/${name}.git`;
    },
    /** The most fetches it held at once since the last call. */
    mostAtOnce() {
      const most = mostAtOnce;
      mostAtOnce = 0;
      return most;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        rmSync(root, { recursive: true, force: true });
      }),
  };
};
