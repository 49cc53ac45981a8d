import { CliError, graphql, type Connection } from './client.ts';
import { table } from './table.ts';

interface User {
  login: string;
  name: string;
  state: string;
  isAdmin: boolean;
  createdAt: string;
  lastLoginAt: string | null;
}
const fields = 'login name state isAdmin createdAt lastLoginAt';
const columns = ['login', 'name', 'state', 'admin', 'created', 'last login'];
const row = (u: User) => [
  u.login,
  u.name,
  u.state,
  u.isAdmin ? 'yes' : 'no',
  u.createdAt.slice(0, 19).replace('T', ' '),
  u.lastLoginAt?.slice(0, 19).replace('T', ' ') ?? '-',
];

const listAll = async (c: Connection): Promise<User[]> => {
  const users: User[] = [];
  let after: string | null = null;
  for (;;) {
    const data: { users: { edges: Array<{ node: User }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } = await graphql(
      c,
      `query($after: String) { users(first: 500, after: $after) { edges { node { ${fields} } } pageInfo { hasNextPage endCursor } } }`,
      { after },
    );
    users.push(...data.users.edges.map((e) => e.node));
    if (!data.users.pageInfo.hasNextPage) return users;
    after = data.users.pageInfo.endCursor;
  }
};

const mutations = { suspend: 'suspendUser', activate: 'activateUser' } as const;

/** `gyre users list | delete <login> | suspend <login> | activate <login>`: what the guide does in the dev console. */
export const users = async (c: Connection, action: string | undefined, login: string | undefined, json: boolean): Promise<string> => {
  if (action === 'list') {
    const all = await listAll(c);
    return json ? JSON.stringify(all, null, 2) : table(columns, all.map(row));
  }
  if (!login) throw new CliError(`usage: gyre users ${action ?? '<list|delete|suspend|activate>'} <login>`);
  if (action === 'delete') {
    await graphql(c, 'mutation($login: String!) { deleteUser(login: $login) }', { login });
    return json ? JSON.stringify({ login, deleted: true }) : `deleted ${login}`;
  }
  if (action === 'suspend' || action === 'activate') {
    const field = mutations[action];
    const data = await graphql<Record<string, User>>(c, `mutation($login: String!) { ${field}(login: $login) { ${fields} } }`, { login });
    const user = data[field]!;
    return json ? JSON.stringify(user, null, 2) : table(columns, [row(user)]);
  }
  throw new CliError(`unknown users command "${action ?? ''}": use list, delete, suspend or activate`);
};
