import type { Path } from './problems.ts';
import { instantiate, lookupAnywhere, missing, type Scope } from './scopes.ts';
import { dockerImageKeys, executorKeys } from './steps.ts';
import { isRecord } from './values.ts';

/** What a job's `executor:` names (a name, or `{name, …parameters}`), with its parameters bound; the keys it gives the job. */
export const resolveExecutor = (root: Scope, rawExecutor: unknown, at: Path, scope: Scope): Record<string, unknown> => {
  const [name, args] =
    typeof rawExecutor === 'string'
      ? [rawExecutor, {}]
      : isRecord(rawExecutor) && typeof rawExecutor.name === 'string'
        ? [rawExecutor.name, Object.fromEntries(Object.entries(rawExecutor).filter(([k]) => k !== 'name'))]
        : [undefined, {}];
  if (!name) return scope.fail(at, 'executor is a name, or a map with name and its parameters');
  const found = lookupAnywhere(root, scope, 'executors', name);
  if (!found) return scope.fail(at, missing(root, 'executor', name, scope));
  const e = instantiate(found, args, at, scope, `executor ${name}`);
  for (const k of Object.keys(e.body)) if (!executorKeys.includes(k)) e.scope.fail([...e.path, k], `unknown key ${k} in executor ${name}`);
  const { description: _, ...rest } = e.body;
  return rest;
};

/** A job's `docker:` list: images, the first the primary container; version 2.1 (`modern`) is checked closely. */
export const checkDocker = (docker: unknown, at: Path, scope: Scope, modern: boolean) => {
  if (!Array.isArray(docker) || docker.length === 0) scope.fail(at, 'docker is a list of images, the first the primary container');
  for (const [i, image] of (docker as unknown[]).entries()) {
    if (!isRecord(image) || typeof image.image !== 'string') {
      scope.fail([...at, i], 'each docker entry needs an image');
      continue;
    }
    // version 2.0 configs were never checked this closely, and CircleCI still runs them
    if (!modern) continue;
    for (const k of Object.keys(image))
      if (!dockerImageKeys.includes(k)) scope.fail([...at, i, k], `unknown key ${k} in a docker image (it takes ${dockerImageKeys.join(', ')})`);
    if (image.auth !== undefined && (!isRecord(image.auth) || typeof image.auth.username !== 'string' || image.auth.password === undefined))
      scope.fail([...at, i, 'auth'], 'auth takes username and password');
    if (
      image.aws_auth !== undefined &&
      (!isRecord(image.aws_auth) ||
        (image.aws_auth.oidc_role_arn === undefined && (image.aws_auth.aws_access_key_id === undefined || image.aws_auth.aws_secret_access_key === undefined)))
    ) {
      scope.fail([...at, i, 'aws_auth'], 'aws_auth takes aws_access_key_id and aws_secret_access_key, or oidc_role_arn');
    }
  }
};
