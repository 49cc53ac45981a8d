/** The UI's addresses, from the API's names: a project's slug is gh/<org>/<repo>, three path segments. */
const segments = (slug: string) => slug.split('/').map(encodeURIComponent).join('/');

export const projectPath = (slug: string) => `/projects/${segments(slug)}`;
export const projectSettingsPath = (slug: string) => `${projectPath(slug)}/settings`;
/** The organization's contexts: gh/<org>. */
export const contextsPath = (slug: string) => `/contexts/${segments(slug.split('/').slice(0, 2).join('/'))}`;
export const pipelinePath = (slug: string, number: number) => `/pipelines/${segments(slug)}/${number}`;
export const workflowPath = (slug: string, number: number, workflowId: string) => `${pipelinePath(slug, number)}/workflows/${workflowId}`;
/** CircleCI's CIRCLE_BUILD_URL shape when the job has a number (an approval job has none). */
export const jobPath = (slug: string, number: number, workflowId: string, job: { id: string; jobNumber: number | null }) =>
  job.jobNumber !== null ? `${workflowPath(slug, number, workflowId)}/jobs/${job.jobNumber}` : `/jobs/${job.id}`;
/** The slug a page's address names. */
export const slugOf = (p: Record<string, string>) => `${p.vcs}/${p.org}/${p.repo}`;
