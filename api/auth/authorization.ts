import { ForbiddenError, UnauthorizedError } from '../../domain/errors.ts';
import type { Auth } from './authenticate.ts';

/** `agent`: a runner agent by its resource class's token, and nobody else; it is refused every other guarded rule. */
export type Role = 'anonymous' | 'user' | 'admin' | 'agent';

/**
 * Who may do it, and for guarded operations the audit action a refusal is recorded under. An open
 * route that signs a browser in or out names the action `refusedAs` that its refusals are recorded under
 * when its use case never saw the request: a cross-site request, a body that does not parse.
 */
export type Rule = { readonly role: 'anonymous'; readonly refusedAs?: string } | { readonly role: 'user' | 'admin' | 'agent'; readonly action: string };

/**
 * Who may do what: every GraphQL root field and every HTTP route has one line here.
 * A field or route without a line fails at start-up and in the matrix test.
 */
export const graphqlRules: Readonly<Record<string, Rule>> = {
  'Query.systemSettings': { role: 'user', action: 'system.settings.read' },
  'Query.auditLog': { role: 'admin', action: 'audit_log.read' },
  'Query.me': { role: 'user', action: 'user.read' },
  'Query.apiTokens': { role: 'user', action: 'user.read' },
  'Mutation.createApiToken': { role: 'user', action: 'user.api_token.create' },
  'Mutation.revokeApiToken': { role: 'user', action: 'user.api_token.revoke' },
  'Query.users': { role: 'admin', action: 'user.read' },
  'Query.user': { role: 'admin', action: 'user.read' },
  'Mutation.suspendUser': { role: 'admin', action: 'user.suspend' },
  'Mutation.activateUser': { role: 'admin', action: 'user.activate' },
  'Mutation.approveUser': { role: 'admin', action: 'user.approve' },
  'Mutation.deleteUser': { role: 'admin', action: 'user.delete' },
  'Mutation.grantAdmin': { role: 'admin', action: 'user.admin.grant' },
  'Mutation.revokeAdmin': { role: 'admin', action: 'user.admin.revoke' },
  'Mutation.updateSystemSettings': { role: 'admin', action: 'system.settings.update' },
  'Query.vmService': { role: 'admin', action: 'vm_service.read' },
  'Mutation.configureVmService': { role: 'admin', action: 'vm_service.configure' },
  'Subscription.events': { role: 'admin', action: 'audit_log.subscribe' },
  'Query.projects': { role: 'user', action: 'project.read' },
  'Query.project': { role: 'user', action: 'project.read' },
  'Mutation.createProject': { role: 'user', action: 'project.create' },
  'Mutation.unfollowProject': { role: 'user', action: 'project.unfollow' },
  'Mutation.updateProjectSettings': { role: 'user', action: 'project.settings.update' },
  'Mutation.storeProjectEnvVar': { role: 'user', action: 'project.env_var.create' },
  'Mutation.deleteProjectEnvVar': { role: 'user', action: 'project.env_var.delete' },
  'Query.contexts': { role: 'user', action: 'context.read' },
  'Query.context': { role: 'user', action: 'context.read' },
  'Mutation.createContext': { role: 'user', action: 'context.create' },
  'Mutation.deleteContext': { role: 'user', action: 'context.delete' },
  'Mutation.storeContextEnvVar': { role: 'user', action: 'context.env_var.store' },
  'Mutation.deleteContextEnvVar': { role: 'user', action: 'context.env_var.delete' },
  'Mutation.addContextRestriction': { role: 'admin', action: 'context.restriction.create' },
  'Mutation.removeContextRestriction': { role: 'admin', action: 'context.restriction.delete' },
  'Mutation.rotateMasterKey': { role: 'admin', action: 'system.master_key.rotate' },
  'Mutation.rebuildProjections': { role: 'admin', action: 'system.projections.rebuild' },
  'Query.projectionRebuild': { role: 'admin', action: 'system.projections.read' },
  'Mutation.publishOrb': { role: 'admin', action: 'orb.publish' },
  'Query.orbVersion': { role: 'user', action: 'orb.read' },
  'Query.compileConfig': { role: 'user', action: 'config.compile' },
  'Query.pipelines': { role: 'user', action: 'pipeline.read' },
  'Query.pipeline': { role: 'user', action: 'pipeline.read' },
  'Query.pipelineByNumber': { role: 'user', action: 'pipeline.read' },
  'Query.workflow': { role: 'user', action: 'pipeline.read' },
  'Mutation.triggerPipeline': { role: 'user', action: 'pipeline.create' },
  'Mutation.approveJob': { role: 'user', action: 'workflow.job.approve' },
  'Mutation.cancelWorkflow': { role: 'user', action: 'workflow.cancel' },
  'Mutation.cancelJob': { role: 'user', action: 'workflow.job.finish' },
  'Mutation.rerunWorkflow': { role: 'user', action: 'workflow.retry' },
  'Mutation.reportJob': { role: 'admin', action: 'workflow.job.finish' },
  'Subscription.workflowJobs': { role: 'user', action: 'pipeline.read' },
  'Query.job': { role: 'user', action: 'pipeline.read' },
  'Subscription.jobOutput': { role: 'user', action: 'pipeline.read' },
  // why is my job queued: every signed-in user may see the queues and the room agents have, not the agents themselves
  'Query.resourceClasses': { role: 'user', action: 'pipeline.read' },
  'Query.agents': { role: 'admin', action: 'runner.read' },
  // every project's queued jobs: admins only, as a user may not see every project
  'Query.queuedJobs': { role: 'admin', action: 'runner.read' },
  'Query.runnerResourceClasses': { role: 'admin', action: 'runner.read' },
  'Query.runnerTokens': { role: 'admin', action: 'runner.read' },
  'Mutation.createRunnerResourceClass': { role: 'admin', action: 'runner.resource_class.create' },
  'Mutation.deleteRunnerResourceClass': { role: 'admin', action: 'runner.resource_class.delete' },
  'Mutation.createRunnerToken': { role: 'admin', action: 'runner.token.create' },
  'Mutation.deleteRunnerToken': { role: 'admin', action: 'runner.token.delete' },
};

/** CircleCI's runner API, at /api/v3 (the `circleci` CLI today) and /api/v2 (its earlier releases, on a server install). */
export const runnerApiPrefixes = ['/api/v3', '/api/v2'] as const;
const runnerRoutes = Object.fromEntries(
  runnerApiPrefixes.flatMap((p) => [
    [`GET ${p}/runner/resource`, { role: 'admin', action: 'runner.read' }],
    [`POST ${p}/runner/resource`, { role: 'admin', action: 'runner.resource_class.create' }],
    [`DELETE ${p}/runner/resource/:id`, { role: 'admin', action: 'runner.resource_class.delete' }],
    [`DELETE ${p}/runner/resource/:id/force`, { role: 'admin', action: 'runner.resource_class.delete' }],
    [`GET ${p}/runner/token`, { role: 'admin', action: 'runner.read' }],
    [`POST ${p}/runner/token`, { role: 'admin', action: 'runner.token.create' }],
    [`DELETE ${p}/runner/token/:id`, { role: 'admin', action: 'runner.token.delete' }],
  ]),
) as Record<string, Rule>;

export const routeRules: Readonly<Record<string, Rule>> = {
  'GET /healthz': { role: 'anonymous' },
  'GET /readyz': { role: 'anonymous' },
  // Prometheus scrapes it without a user account: open, or with GYRE_METRICS_TOKEN set only to that bearer token (api/rest/metrics.ts)
  'GET /metrics': { role: 'anonymous' },
  'GET /admin/audit-log.csv': { role: 'admin', action: 'audit_log.export' },
  'GET /api/v2/me': { role: 'user', action: 'user.read' },
  'GET /api/v2/me/collaborations': { role: 'user', action: 'user.read' },
  'GET /api/v2/user/:id': { role: 'user', action: 'user.read' },
  'GET /api/v2/openapi.json': { role: 'anonymous' },
  'POST /api/v2/compile-config-with-defaults': { role: 'user', action: 'config.compile' },
  'POST /api/v2/project/:vcs/:org/:repo/pipeline': { role: 'user', action: 'pipeline.create' },
  'POST /api/v2/project/:slug/pipeline': { role: 'user', action: 'pipeline.create' },
  'GET /api/v2/project/:vcs/:org/:repo/pipeline': { role: 'user', action: 'pipeline.read' },
  'GET /api/v2/project/:slug/pipeline': { role: 'user', action: 'pipeline.read' },
  'GET /api/v2/project/:vcs/:org/:repo/pipeline/mine': { role: 'user', action: 'pipeline.read' },
  'GET /api/v2/project/:slug/pipeline/mine': { role: 'user', action: 'pipeline.read' },
  'GET /api/v2/project/:vcs/:org/:repo/pipeline/:number': { role: 'user', action: 'pipeline.read' },
  'GET /api/v2/project/:slug/pipeline/:number': { role: 'user', action: 'pipeline.read' },
  'GET /api/v2/pipeline': { role: 'user', action: 'pipeline.read' },
  'GET /api/v2/pipeline/:id/config': { role: 'user', action: 'pipeline.read' },
  'POST /api/v2/project/:vcs/:org/:repo/job/:number/cancel': { role: 'user', action: 'workflow.job.finish' },
  'POST /api/v2/project/:slug/job/:number/cancel': { role: 'user', action: 'workflow.job.finish' },
  'GET /api/v2/project/:vcs/:org/:repo/job/:number': { role: 'user', action: 'pipeline.read' },
  'GET /api/v2/project/:slug/job/:number': { role: 'user', action: 'pipeline.read' },
  'GET /api/v2/pipeline/:id': { role: 'user', action: 'pipeline.read' },
  'GET /api/v2/pipeline/:id/workflow': { role: 'user', action: 'pipeline.read' },
  // the continuation key alone authorizes it (CircleCI's continuation orb sends no token): the use case checks it
  'POST /api/v2/pipeline/continue': { role: 'anonymous', refusedAs: 'pipeline.continue' },
  'GET /api/v2/workflow/:id': { role: 'user', action: 'pipeline.read' },
  'GET /api/v2/workflow/:id/job': { role: 'user', action: 'pipeline.read' },
  'POST /api/v2/workflow/:id/approve/:approval_request_id': { role: 'user', action: 'workflow.job.approve' },
  'POST /api/v2/workflow/:id/cancel': { role: 'user', action: 'workflow.cancel' },
  'POST /api/v2/workflow/:id/rerun': { role: 'user', action: 'workflow.retry' },
  // GitHub's deliveries: the signature under the project's webhook secret authorizes them (api/rest/github-webhook.ts)
  'POST /hooks/github': { role: 'anonymous' },
  'POST /hooks/github/:vcs/:org/:repo': { role: 'anonymous' },
  // Insights: whoever may read the project
  'GET /api/v2/insights/:vcs/:org/:repo/workflows': { role: 'user', action: 'project.read' },
  'GET /api/v2/insights/:slug/workflows': { role: 'user', action: 'project.read' },
  'GET /api/v2/insights/:vcs/:org/:repo/workflows/:name': { role: 'user', action: 'project.read' },
  'GET /api/v2/insights/:slug/workflows/:name': { role: 'user', action: 'project.read' },
  'GET /api/v2/insights/:vcs/:org/:repo/workflows/:name/jobs': { role: 'user', action: 'project.read' },
  'GET /api/v2/insights/:slug/workflows/:name/jobs': { role: 'user', action: 'project.read' },
  'GET /api/v2/insights/:vcs/:org/:repo/flaky-tests': { role: 'user', action: 'project.read' },
  'GET /api/v2/insights/:slug/flaky-tests': { role: 'user', action: 'project.read' },
  'GET /api/v2/context': { role: 'user', action: 'context.read' },
  'POST /api/v2/context': { role: 'user', action: 'context.create' },
  'GET /api/v2/context/:id': { role: 'user', action: 'context.read' },
  'DELETE /api/v2/context/:id': { role: 'user', action: 'context.delete' },
  'GET /api/v2/context/:id/environment-variable': { role: 'user', action: 'context.read' },
  'PUT /api/v2/context/:id/environment-variable/:name': { role: 'user', action: 'context.env_var.store' },
  'DELETE /api/v2/context/:id/environment-variable/:name': { role: 'user', action: 'context.env_var.delete' },
  'GET /api/v2/project/:vcs/:org/:repo': { role: 'user', action: 'project.read' },
  'GET /api/v2/project/:vcs/:org/:repo/envvar': { role: 'user', action: 'project.read' },
  'POST /api/v2/project/:vcs/:org/:repo/envvar': { role: 'user', action: 'project.env_var.create' },
  'GET /api/v2/project/:vcs/:org/:repo/envvar/:name': { role: 'user', action: 'project.read' },
  'DELETE /api/v2/project/:vcs/:org/:repo/envvar/:name': { role: 'user', action: 'project.env_var.delete' },
  // the same, with the slug as one URL-encoded segment (gh%2Forg%2Frepo), as some API clients send it
  'GET /api/v2/project/:slug': { role: 'user', action: 'project.read' },
  'GET /api/v2/project/:slug/envvar': { role: 'user', action: 'project.read' },
  'POST /api/v2/project/:slug/envvar': { role: 'user', action: 'project.env_var.create' },
  'GET /api/v2/project/:slug/envvar/:name': { role: 'user', action: 'project.read' },
  'DELETE /api/v2/project/:slug/envvar/:name': { role: 'user', action: 'project.env_var.delete' },
  // scheduled pipelines: members of the project's organization (checked by the use cases), as CircleCI's project members
  'GET /api/v2/project/:vcs/:org/:repo/schedule': { role: 'user', action: 'project.read' },
  'POST /api/v2/project/:vcs/:org/:repo/schedule': { role: 'user', action: 'schedule.create' },
  'GET /api/v2/project/:slug/schedule': { role: 'user', action: 'project.read' },
  'POST /api/v2/project/:slug/schedule': { role: 'user', action: 'schedule.create' },
  'GET /api/v2/schedule/:id': { role: 'user', action: 'project.read' },
  'PATCH /api/v2/schedule/:id': { role: 'user', action: 'schedule.update' },
  'DELETE /api/v2/schedule/:id': { role: 'user', action: 'schedule.delete' },
  // the web UI's page and files: what it shows it reads through GraphQL, as the signed-in account
  'GET /': { role: 'anonymous' },
  'GET /sign-in': { role: 'anonymous' },
  'GET /projects': { role: 'anonymous' },
  'GET /projects/*': { role: 'anonymous' },
  'GET /contexts/*': { role: 'anonymous' },
  'GET /pipelines/*': { role: 'anonymous' },
  'GET /jobs/*': { role: 'anonymous' },
  'GET /tokens': { role: 'anonymous' },
  'GET /admin/*': { role: 'anonymous' },
  'GET /assets/*': { role: 'anonymous' },
  'GET /favicon.svg': { role: 'anonymous' },
  'GET /auth/github': { role: 'anonymous' },
  'GET /auth/github/callback': { role: 'anonymous' },
  'POST /auth/logout': { role: 'anonymous', refusedAs: 'user.logged_out' },
  'POST /auth/token': { role: 'anonymous', refusedAs: 'user.logged_in' },
  'GET /auth/session': { role: 'anonymous' },
  // GraphQL authorizes each root field by graphqlRules; a refused cross-site request is recorded under the fields it asked for
  'GET /graphql': { role: 'anonymous' },
  'POST /graphql': { role: 'anonymous' },
  ...runnerRoutes,
  'GET /api/v1.1/project/:vcs/:org/:repo/:num': { role: 'user', action: 'pipeline.read' },
  'POST /api/v1.1/project/:vcs/:org/:repo/follow': { role: 'user', action: 'project.create' },
  'POST /api/v1.1/project/:vcs/:org/:repo/unfollow': { role: 'user', action: 'project.unfollow' },
  'GET /api/v1.1/project/:vcs/:org/:repo/:num/artifacts': { role: 'user', action: 'pipeline.read' },
  'GET /api/v2/project/:vcs/:org/:repo/:num/artifacts': { role: 'user', action: 'pipeline.read' },
  'GET /api/v2/project/:vcs/:org/:repo/:num/tests': { role: 'user', action: 'pipeline.read' },
  'GET /output/job/:jobId/artifacts/:node/*': { role: 'user', action: 'pipeline.read' },
  'GET /api/v1.1/project/:vcs/:org/:repo/:num/output/:step/:index': { role: 'user', action: 'pipeline.read' },
  'GET /api/private/output/raw/:vcs/:org/:repo/:num/output/:task/:step': { role: 'user', action: 'pipeline.read' },
  'GET /api/private/output/raw/:vcs/:org/:repo/:num/error/:task/:step': { role: 'user', action: 'pipeline.read' },
  // the agent protocol (gyre agent): runner tokens only
  'POST /api/agent/register': { role: 'agent', action: 'agent.register' },
  'POST /api/agent/claim': { role: 'agent', action: 'job.task.claim' },
  'POST /api/agent/heartbeat': { role: 'agent', action: 'agent.heartbeat' },
  'POST /api/agent/steps/start': { role: 'agent', action: 'job.step.start' },
  'POST /api/agent/steps/output': { role: 'agent', action: 'job.step.output' },
  'POST /api/agent/steps/finish': { role: 'agent', action: 'job.step.finish' },
  'POST /api/agent/tasks/finish': { role: 'agent', action: 'job.task.finish' },
  'POST /api/agent/remote-docker': { role: 'agent', action: 'vm.instance.request' },
  'POST /api/agent/artifacts': { role: 'agent', action: 'job.artifacts.store' },
  'POST /api/agent/test-results': { role: 'agent', action: 'job.tests.store' },
  'POST /api/agent/caches/exists': { role: 'agent', action: 'cache.read' },
  'POST /api/agent/caches/save': { role: 'agent', action: 'cache.save' },
  'POST /api/agent/caches/find': { role: 'agent', action: 'cache.read' },
  'POST /api/agent/caches/read': { role: 'agent', action: 'cache.read' },
  'POST /api/agent/workspace/persist': { role: 'agent', action: 'job.workspace.persist' },
  'POST /api/agent/workspace/layers': { role: 'agent', action: 'job.workspace.read' },
  'POST /api/agent/workspace/read': { role: 'agent', action: 'job.workspace.read' },
};

/** Throws UnauthorizedError (401) or ForbiddenError (403), naming what would let the caller in. */
export const authorize = (rule: Rule, auth: Auth): void => {
  if (rule.role === 'anonymous') return;
  if (auth.kind === 'invalid') throw new UnauthorizedError(`${auth.reason}: send a valid token as "Authorization: Bearer <token>" or "Circle-Token: <token>"`);
  if (auth.kind === 'anonymous')
    throw new UnauthorizedError('authentication required: send an API token as "Authorization: Bearer <token>" or "Circle-Token: <token>"');
  if (rule.role === 'agent') {
    if (auth.kind !== 'agent') throw new ForbiddenError('only a runner agent, with a token of its resource class, may do this');
    return;
  }
  if (auth.kind === 'agent')
    throw new ForbiddenError(`a runner token (of ${auth.resourceClass}) may only claim and run tasks: use a personal API token for anything else`);
  if (rule.role === 'admin' && !auth.user.isAdmin) throw new ForbiddenError(`${auth.user.login} is not an administrator: ask an admin to grant admin rights`);
};
