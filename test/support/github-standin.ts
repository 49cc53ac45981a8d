import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';

export interface StandInUser {
  id: number;
  login: string;
  name: string;
  orgs: string[];
  /** `org/team-slug` */
  teams?: string[];
}

/**
 * A small GitHub Enterprise on 127.0.0.1: the OAuth web flow (authorize, access_token) and the
 * REST endpoints Gyre reads (/api/v3/user, /api/v3/user/orgs, /api/v3/user/teams). `signingIn` is who approves next.
 */
export const startGitHubStandIn = async (client: { id: string; secret: string }) => {
  const codes = new Map<string, StandInUser>();
  const tokens = new Map<string, StandInUser>();
  const state = { signingIn: null as StandInUser | null, tokenRequests: 0 };
  const repos = repoState();
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url!, 'http://standin');
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.method === 'GET' && url.pathname === '/login/oauth/authorize') {
      if (url.searchParams.get('client_id') !== client.id || !state.signingIn) return json(400, { error: 'bad client or no user' });
      const code = randomUUID();
      codes.set(code, state.signingIn);
      const back = new URL(url.searchParams.get('redirect_uri')!);
      back.searchParams.set('code', code);
      back.searchParams.set('state', url.searchParams.get('state') ?? '');
      return res.writeHead(302, { location: back.href }).end();
    }
    if (req.method === 'POST' && url.pathname === '/login/oauth/access_token') {
      let body = '';
      for await (const chunk of req) body += chunk;
      const form = req.headers['content-type']?.includes('json') ? (JSON.parse(body) as Record<string, string>) : Object.fromEntries(new URLSearchParams(body));
      const basic = req.headers.authorization?.startsWith('Basic ')
        ? Buffer.from(req.headers.authorization.slice(6), 'base64').toString().split(':').map(decodeURIComponent)
        : [];
      const [id, secret] = [form.client_id ?? basic[0], form.client_secret ?? basic[1]];
      state.tokenRequests++;
      const user = codes.get(form.code ?? '');
      if (id !== client.id || secret !== client.secret || !user) return json(401, { error: 'bad_verification_code' });
      codes.delete(form.code!);
      const token = `gho_${randomUUID().replace(/-/g, '')}`;
      tokens.set(token, user);
      return json(200, { access_token: token, token_type: 'bearer', scope: 'read:user,read:org' });
    }
    const user = tokens.get((req.headers.authorization ?? '').replace(/^(token|bearer) /i, ''));
    /** GitHub's paging: `per_page` (at most 100) items of page `page`. */
    const paged = <T>(items: T[]) => {
      const per = Math.min(Number(url.searchParams.get('per_page') ?? 30), 100);
      const page = Number(url.searchParams.get('page') ?? 1);
      return items.slice((page - 1) * per, page * per);
    };
    if (url.pathname === '/api/v3/user')
      return user ? json(200, { id: user.id, login: user.login, name: user.name }) : json(401, { message: 'Bad credentials' });
    if (url.pathname === '/api/v3/user/orgs')
      return user ? json(200, paged(user.orgs.map((login, i) => ({ login, id: i + 1 })))) : json(401, { message: 'Bad credentials' });
    if (url.pathname === '/api/v3/user/teams') {
      if (!user) return json(401, { message: 'Bad credentials' });
      return json(
        200,
        paged((user.teams ?? []).map((t, i) => ({ id: i + 1, slug: t.split('/')[1], name: t.split('/')[1], organization: { login: t.split('/')[0] } }))),
      );
    }
    if (await repoRoutes(req, res, url, user, repos)) return;
    json(404, { message: 'Not Found' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  /** A token for `user` as if they had signed in, for tests that call GitHub's API without Gyre's sign-in. */
  const issueToken = (user: StandInUser) => {
    const token = `gho_${randomUUID().replace(/-/g, '')}`;
    tokens.set(token, user);
    return token;
  };
  return {
    url: `http://127.0.0.1:${port}`,
    state,
    repos,
    issueToken,
    tokensIssued: () => [...tokens.keys()],
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
};

/** A browser: follows redirects by hand and keeps cookies per host. */
export const browser = () => {
  const jar = new Map<string, Map<string, string>>();
  const setCookies: string[] = [];
  const visit = async (start: string, init: RequestInit = {}) => {
    let url = start;
    let method = init.method ?? 'GET';
    for (let hop = 0; hop < 10; hop++) {
      const host = new URL(url).host;
      const cookies = jar.get(host) ?? new Map<string, string>();
      const res = await fetch(url, {
        ...init,
        method,
        redirect: 'manual',
        headers: { ...(init.headers as object), cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
      });
      setCookies.push(...res.headers.getSetCookie());
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';');
        const [name, ...value] = pair!.split('=');
        if (/max-age=0|expires=thu, 01 jan 1970/i.test(c) || value.join('=') === '') cookies.delete(name!.trim());
        else cookies.set(name!.trim(), value.join('='));
      }
      jar.set(host, cookies);
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        url = new URL(location, url).href;
        method = 'GET';
        continue;
      }
      return { res, url };
    }
    throw new Error('too many redirects');
  };
  return { visit, setCookies, cookies: (host: string) => jar.get(host) ?? new Map<string, string>() };
};

// ---------------------------------------------------------------------------------------------
// Repositories: webhooks and commit statuses (GitHub REST API docs: "Repository webhooks",
// "Commit statuses", "Rate limits"). Everything below is recorded per repository (`owner/repo`).
// ---------------------------------------------------------------------------------------------

export interface StandInHook {
  id: number;
  name: string;
  active: boolean;
  events: string[];
  config: { url: string; content_type: string; secret: string; insecure_ssl: string };
  /** The login whose token registered it. */
  by: string;
}
export interface StandInStatus {
  state: string;
  context: string;
  description: string;
  target_url: string;
  by: string;
}

const repoState = () => ({
  /** Live hooks per repository. */
  hooks: new Map<string, StandInHook[]>(),
  /** Hook deletions asked for, in order: `owner/repo#id by login`. */
  deletions: [] as string[],
  /** Answer the next hook registration on a repository with this status (403: not an admin, 404: no access, 422: invalid). */
  refuseHooks: new Map<string, number>(),
  /** Answer hook deletions on a repository with this status. */
  refuseHookDeletes: new Map<string, number>(),
  /** Commit statuses in the order received, per `owner/repo@sha`. */
  statuses: new Map<string, StandInStatus[]>(),
  /** Status calls answered with a rate limit (not recorded in `statuses`). */
  rateLimited: 0,
  /**
   * The next `count` status calls are rate-limited: `403` with `x-ratelimit-remaining: 0` and
   * `x-ratelimit-reset` `resetInSeconds` from now, or `429` with `retry-after: resetInSeconds`, or
   * (`secondary`) GitHub's secondary rate limit: `403` with requests remaining, no `retry-after`, and
   * a message that says so (then GitHub's docs say to wait at least a minute).
   */
  rateLimitNext: null as null | { count: number; kind: 403 | 429 | 'secondary'; resetInSeconds: number },
  nextHookId: 1000,
});

const readJson = async (req: import('node:http').IncomingMessage): Promise<Record<string, any>> => {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body ? (JSON.parse(body) as Record<string, any>) : {};
};

/** `POST|DELETE /repos/{owner}/{repo}/hooks[/{id}]`, `POST /repos/{owner}/{repo}/statuses/{sha}`; true when it answered. */
const repoRoutes = async (
  req: import('node:http').IncomingMessage,
  res: import('node:http').ServerResponse,
  url: URL,
  user: StandInUser | undefined,
  repos: ReturnType<typeof repoState>,
): Promise<boolean> => {
  const m = /^\/api\/v3\/repos\/([^/]+)\/([^/]+)\/(hooks(?:\/(\d+))?|statuses\/([0-9a-f]{4,40}))$/.exec(url.pathname);
  if (!m) return false;
  /** Answers, and says it did. */
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    return true;
  };
  if (!user) return json(401, { message: 'Bad credentials' });
  const repo = `${m[1]}/${m[2]}`;
  if (m[3] === 'hooks' && req.method === 'POST') {
    const body = await readJson(req);
    const refused = repos.refuseHooks.get(repo);
    if (refused)
      return json(refused, { message: refused === 404 ? 'Not Found' : refused === 403 ? 'Must have admin rights to Repository.' : 'Validation Failed' });
    if (body.name !== 'web' || !body.config?.url) return json(422, { message: 'Validation Failed' });
    const hook: StandInHook = {
      id: repos.nextHookId++,
      name: body.name,
      active: body.active ?? true,
      events: body.events ?? ['push'],
      config: body.config,
      by: user.login,
    };
    repos.hooks.set(repo, [...(repos.hooks.get(repo) ?? []), hook]);
    return json(201, {
      type: 'Repository',
      id: hook.id,
      name: hook.name,
      active: hook.active,
      events: hook.events,
      config: { ...hook.config, secret: '********' },
    });
  }
  if (m[4] && req.method === 'DELETE') {
    const id = Number(m[4]);
    repos.deletions.push(`${repo}#${id} by ${user.login}`);
    const refused = repos.refuseHookDeletes.get(repo);
    if (refused) return json(refused, { message: 'Must have admin rights to Repository.' });
    const hooks = repos.hooks.get(repo) ?? [];
    if (!hooks.some((h) => h.id === id)) return json(404, { message: 'Not Found' });
    repos.hooks.set(
      repo,
      hooks.filter((h) => h.id !== id),
    );
    res.writeHead(204).end();
    return true;
  }
  if (m[5] && req.method === 'POST') {
    const body = await readJson(req);
    const limit = repos.rateLimitNext;
    if (limit && limit.count > 0) {
      limit.count--;
      repos.rateLimited++;
      if (limit.kind === 429) return json(429, { message: 'You have exceeded a secondary rate limit.' }, { 'retry-after': String(limit.resetInSeconds) });
      if (limit.kind === 'secondary')
        return json(
          403,
          { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.' },
          { 'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': '4990' },
        );
      const reset = Math.ceil(Date.now() / 1000) + limit.resetInSeconds;
      return json(
        403,
        { message: 'API rate limit exceeded' },
        { 'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) },
      );
    }
    if (!['pending', 'success', 'failure', 'error'].includes(body.state)) return json(422, { message: 'Validation Failed' });
    const key = `${repo}@${m[5]}`;
    repos.statuses.set(key, [
      ...(repos.statuses.get(key) ?? []),
      { state: body.state, context: body.context ?? 'default', description: body.description ?? '', target_url: body.target_url ?? '', by: user.login },
    ]);
    return json(201, { state: body.state, context: body.context });
  }
  return false;
};
