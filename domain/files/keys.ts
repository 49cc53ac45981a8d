/**
 * Where each kind of file lives in the object store. Every object is a plain file under its prefix, so
 * an operator can read the bucket: a job's files under `jobs/<job id>/`, a project's caches under
 * `projects/<project id>/caches/`.
 */
/** How many tests one stored chunk holds: a page of the tests API reads one or two. */
export const testsPerChunk = 1000;

export const objectKeys = {
  /** Everything of one kind a job kept: what retention removes. */
  jobFiles: (jobId: string, kind: 'output' | 'artifacts' | 'tests' | 'workspace') => `jobs/${jobId}/${kind}/`,
  output: (jobId: string, taskIndex: number, stepIndex: number) => `jobs/${jobId}/output/${taskIndex}/${stepIndex}.log`,
  /** `path`: the artifact's name (`site/a.html`), already a storage name. */
  artifact: (jobId: string, nodeIndex: number, path: string) => `jobs/${jobId}/artifacts/${nodeIndex}/${path}`,
  /** The parsed results of one `store_test_results` step: JSON arrays of `testsPerChunk` tests each, under this prefix. */
  tests: (jobId: string, nodeIndex: number, stepIndex: number) => `jobs/${jobId}/tests/${nodeIndex}/${stepIndex}/`,
  testsChunk: (prefix: string, chunk: number) => `${prefix}${chunk}.json`,
  /** One `persist_to_workspace` step's layer (a tar, names relative to its root). */
  layer: (jobId: string, nodeIndex: number, stepIndex: number) => `jobs/${jobId}/workspace/${nodeIndex}/${stepIndex}.tar`,
  /** One save of a cache (a gzipped tar, names absolute less the leading /); `saveId` keeps a losing racer's upload apart. */
  cache: (projectId: string, cacheId: string, saveId: string) => `projects/${projectId}/caches/${cacheId}/${saveId}.tar.gz`,
  cachePrefix: (projectId: string, cacheId: string) => `projects/${projectId}/caches/${cacheId}/`,
};
