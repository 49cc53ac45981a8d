import { useState } from 'preact/hooks';
import { gql } from '../../lib/gql.ts';
import { useQuery } from '../../lib/hooks.ts';
import { Button, ErrorBox, Field, Loading, Page, Time } from '../../lib/ui.tsx';
import { ConfirmButton, Outcome, Pager, useAction, usePages } from '../../lib/actions.tsx';

type UserState = 'ACTIVE' | 'INACTIVE' | 'SUSPENDED' | 'SUSPENDED_NEW';
interface User {
  login: string;
  name: string;
  state: UserState;
  isAdmin: boolean;
  createdAt: string;
  lastLoginAt: string | null;
}

/** UserState in words (schema.graphql), with a mark besides the colour. */
const states: Record<UserState, { words: string; mark: string; tone: string }> = {
  ACTIVE: { words: 'active', mark: '✓', tone: 'good' },
  INACTIVE: { words: 'inactive (approved, never signed in)', mark: '…', tone: 'wait' },
  SUSPENDED: { words: 'suspended', mark: '⊘', tone: 'bad' },
  SUSPENDED_NEW: { words: 'suspended new (signed up while new users are suspended)', mark: '⊘', tone: 'hold' },
};
const filters: Array<[UserState | '', string]> = [
  ['', 'All states'],
  ['ACTIVE', 'Active'],
  ['INACTIVE', 'Inactive'],
  ['SUSPENDED', 'Suspended'],
  ['SUSPENDED_NEW', 'Suspended new'],
];

const usersQuery = `query($state: UserState, $first: Int, $after: String) {
  users(state: $state, first: $first, after: $after) { edges { node { login name state isAdmin createdAt lastLoginAt } } pageInfo { hasNextPage endCursor } }
}`;
const userFields = 'login state isAdmin';

/** Accounts by state, paged, with what an admin does to them; and approving a login that has not signed up yet. */
export const Users = () => {
  const [state, setState] = useState<UserState | ''>('');
  const pages = usePages();
  const list = useQuery<{ users: { edges: Array<{ node: User }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } } }>(usersQuery, {
    state: state || null,
    first: 50,
    after: pages.after,
  });
  const action = useAction();
  const [approveLogin, setApproveLogin] = useState('');

  const act = async (mutation: string, login: string, success: string) => {
    if (
      !(await action.run(
        () => gql(`mutation($login: String!) { ${mutation}(login: $login)${mutation === 'deleteUser' ? '' : ` { ${userFields} }`} }`, { login }),
        success,
      ))
    )
      return;
    // the row goes away (deleted, or no longer in the state shown): the focus goes to what happened
    if (mutation === 'deleteUser' || (state && mutation !== 'grantAdmin' && mutation !== 'revokeAdmin')) action.focusOutcome();
    list.reload();
  };

  return (
    <Page title="Users">
      <form
        class="row approve"
        aria-label="Approve a GitHub login"
        onSubmit={async (e) => {
          e.preventDefault();
          const login = approveLogin.trim();
          if (!login) return;
          if (
            await action.run(
              () => gql(`mutation($login: String!) { approveUser(login: $login) { ${userFields} } }`, { login }),
              `${login} approved: the account is inactive until it first signs in.`,
            )
          ) {
            setApproveLogin('');
            list.reload();
          }
        }}
      >
        <Field
          label="GitHub login to approve"
          name="login"
          required
          autoComplete="off"
          value={approveLogin}
          onInput={(e) => setApproveLogin(e.currentTarget.value)}
        />
        <button type="submit" class="primary">
          Approve
        </button>
        <p class="muted hint">Pre-approves a login that has not signed up yet; it takes a licence seat.</p>
      </form>

      <div class="row">
        <label class="field">
          <span>State</span>
          <select
            value={state}
            onChange={(e) => {
              setState(e.currentTarget.value as UserState | '');
              pages.reset();
            }}
          >
            {filters.map(([v, words]) => (
              <option value={v} key={v}>
                {words}
              </option>
            ))}
          </select>
        </label>
      </div>

      <Outcome done={action.done} error={action.error} statusRef={action.statusRef} />
      <ErrorBox error={list.error} />
      {list.data ? (
        <>
          <table class="users">
            <caption class="visually-hidden">Users{state ? `: ${states[state].words}` : ''}</caption>
            <thead>
              <tr>
                <th scope="col">Login</th>
                <th scope="col">Name</th>
                <th scope="col">State</th>
                <th scope="col">Admin</th>
                <th scope="col">Created</th>
                <th scope="col">Last sign-in</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {list.data.users.edges.map(({ node: u }) => {
                const s = states[u.state];
                return (
                  <tr key={u.login} data-login={u.login}>
                    <th scope="row">{u.login}</th>
                    <td>{u.name}</td>
                    <td>
                      <span class={`status status-${s.tone}`} data-state={u.state}>
                        <span aria-hidden="true">{s.mark}</span> {s.words}
                      </span>
                    </td>
                    <td>{u.isAdmin ? 'admin' : '—'}</td>
                    <td>
                      <Time at={u.createdAt} />
                    </td>
                    <td>
                      <Time at={u.lastLoginAt} />
                    </td>
                    <td class="buttons">
                      {u.state === 'ACTIVE' || u.state === 'INACTIVE' ? (
                        <Button
                          aria-label={`Suspend ${u.login}`}
                          onClick={() => act('suspendUser', u.login, `${u.login} suspended: their sessions and tokens stop working.`)}
                        >
                          Suspend
                        </Button>
                      ) : (
                        <Button aria-label={`Activate ${u.login}`} onClick={() => act('activateUser', u.login, `${u.login} activated.`)}>
                          Activate
                        </Button>
                      )}
                      {u.isAdmin ? (
                        <Button aria-label={`Revoke admin ${u.login}`} onClick={() => act('revokeAdmin', u.login, `${u.login} is no longer an admin.`)}>
                          Revoke admin
                        </Button>
                      ) : (
                        <Button aria-label={`Grant admin ${u.login}`} onClick={() => act('grantAdmin', u.login, `${u.login} is now an admin.`)}>
                          Grant admin
                        </Button>
                      )}
                      <ConfirmButton
                        label="Delete"
                        name={u.login}
                        question={`Delete ${u.login}? Their tokens are revoked; the audit history stays.`}
                        onConfirm={() => act('deleteUser', u.login, `${u.login} deleted.`)}
                      />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {list.data.users.edges.length === 0 ? <p>No users{state ? ` in the state ${states[state].words}` : ''}.</p> : null}
          <Pager label="Users" pages={pages} hasNextPage={list.data.users.pageInfo.hasNextPage} endCursor={list.data.users.pageInfo.endCursor} />
        </>
      ) : list.loading ? (
        <Loading />
      ) : null}
    </Page>
  );
};
