import type { ComponentType } from 'preact';
import { SignIn } from './pages/sign-in.tsx';
import { Projects, Project, ProjectSettings, Contexts } from './pages/projects.tsx';
import { Pipeline, Workflow } from './pages/pipelines.tsx';
import { Job, JobByNumber } from './pages/job.tsx';
import { Tokens } from './pages/tokens.tsx';
import { Users, Settings, AuditLog, Runners } from './pages/admin.tsx';

export interface Route {
  readonly path: string;
  readonly page: ComponentType<{ params: Record<string, string> }>;
  /** Admins only: linked to nobody else, and opened directly it says the account is not allowed. */
  readonly admin?: boolean;
}

/** Every page and its address; `/pipelines/…/jobs/<n>` is CircleCI's CIRCLE_BUILD_URL shape. */
export const routes: Route[] = [
  { path: '/', page: Projects },
  { path: '/sign-in', page: SignIn },
  { path: '/projects', page: Projects },
  { path: '/projects/:vcs/:org/:repo', page: Project },
  { path: '/projects/:vcs/:org/:repo/settings', page: ProjectSettings },
  { path: '/contexts/:vcs/:org', page: Contexts },
  { path: '/pipelines/:vcs/:org/:repo/:number', page: Pipeline },
  { path: '/pipelines/:vcs/:org/:repo/:number/workflows/:workflowId', page: Workflow },
  { path: '/pipelines/:vcs/:org/:repo/:number/workflows/:workflowId/jobs/:jobNumber', page: JobByNumber },
  { path: '/jobs/:jobId', page: Job },
  { path: '/tokens', page: Tokens },
  { path: '/admin/users', page: Users, admin: true },
  { path: '/admin/settings', page: Settings, admin: true },
  { path: '/admin/audit-log', page: AuditLog, admin: true },
  { path: '/admin/runners', page: Runners, admin: true },
];
