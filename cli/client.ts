/** The CLI talks to a Gyre server the way any client does: GraphQL over HTTP with an API token. */
export interface Connection {
  readonly host: string;
  readonly token: string;
}

export class CliError extends Error {}

export const graphql = async <T>(c: Connection, query: string, variables: Record<string, unknown> = {}): Promise<T> => {
  let res: Response;
  try {
    res = await fetch(new URL('/graphql', c.host), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${c.token}` },
      body: JSON.stringify({ query, variables }),
    });
  } catch (e) {
    throw new CliError(`cannot reach Gyre at ${c.host}: ${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message}`);
  }
  const body = (await res.json().catch(() => ({}))) as { data?: T; errors?: Array<{ message: string }> };
  if (body.errors?.length) throw new CliError(body.errors.map((e) => e.message).join('; '));
  if (!res.ok || !body.data) throw new CliError(`Gyre answered HTTP ${res.status}`);
  return body.data;
};
