/** CircleCI's built-in steps and the keys each takes (`run` also takes a plain string). */
export const builtinSteps: Readonly<Record<string, ReadonlyArray<string> | null>> = {
  checkout: ['name', 'path', 'method'],
  run: ['name', 'command', 'shell', 'environment', 'background', 'working_directory', 'no_output_timeout', 'when', 'max_auto_reruns', 'auto_rerun_delay'],
  save_cache: ['name', 'key', 'paths', 'when'],
  restore_cache: ['name', 'key', 'keys'],
  store_artifacts: ['name', 'path', 'destination'],
  store_test_results: ['name', 'path'],
  persist_to_workspace: ['name', 'root', 'paths'],
  attach_workspace: ['name', 'at'],
  setup_remote_docker: ['name', 'version', 'docker_layer_caching', 'reusable', 'exclusive'],
  add_ssh_keys: ['name', 'fingerprints'],
  deploy: ['name', 'command', 'shell', 'environment', 'background', 'working_directory', 'no_output_timeout', 'when'],
};

/** What each built-in step needs, in version 2.1: every inner list is one need, met by any one of its keys. */
export const requiredStepKeys: Readonly<Record<string, ReadonlyArray<ReadonlyArray<string>>>> = {
  run: [['command']],
  deploy: [['command']],
  save_cache: [['key'], ['paths']],
  restore_cache: [['key', 'keys']],
  store_artifacts: [['path']],
  store_test_results: [['path']],
  persist_to_workspace: [['root'], ['paths']],
  attach_workspace: [['at']],
  add_ssh_keys: [],
};

/** The keys a job may have once processed (`parameters` and `executor` are consumed on the way). */
export const jobKeys = [
  'docker',
  'machine',
  'macos',
  'windows',
  'executor',
  'resource_class',
  'parallelism',
  'steps',
  'environment',
  'working_directory',
  'shell',
  'parameters',
  'description',
  'circleci_ip_ranges',
  'branches',
  'type',
  'retention',
  'user',
];

/** What an executor definition (or a job standing in for one) holds. */
export const executorKeys = [
  'docker',
  'machine',
  'macos',
  'windows',
  'resource_class',
  'shell',
  'working_directory',
  'environment',
  'parameters',
  'description',
];

/** The keys of a job entry in a workflow that are the workflow's, not the job's parameters. */
export const workflowJobKeys = ['requires', 'context', 'filters', 'type', 'name', 'matrix', 'pre-steps', 'post-steps', 'serial-group', 'override-with'];

export const dockerImageKeys = ['image', 'name', 'entrypoint', 'command', 'user', 'environment', 'auth', 'aws_auth', 'docker_layer_caching'];
