import { z } from 'zod';
import { DomainError, NotFoundError, parseInput } from '../errors.ts';
import { requireOrgMember, type Member } from '../organizations.ts';
import { defineEvent, type EventOf } from '../events/registry.ts';
import { SealedSecret } from '../secrets/secret-value.ts';
import type { Decider } from '../decider.ts';
import { GitUrl } from './git-url.ts';
import { requireAllowedGitUrl, type GitHosts } from './git-hosts.ts';
import { orgId, ownerSlugOf, type ProjectSlug } from './slugs.ts';

/** One stream per followed repository, keyed by its lower-cased slug: following it twice is refused. */
export const projectStream = (slug: ProjectSlug) => `project-${slug.key}`;
export const projectTarget = (p: { projectId: string; slug: string }) => ({ id: p.projectId, type: 'project', name: p.slug });

const BranchName = z
  .string()
  .trim()
  .min(1)
  .max(255)
  .regex(/^[^\s~^:?*[\\]+$/, 'must be a git branch name');

/** The settings of a project other than its secrets; `updateProjectSettings` changes any of them. */
export const ProjectSettings = z.object({
  gitUrl: GitUrl,
  defaultBranch: BranchName,
  buildForkPullRequests: z.boolean(),
  passSecretsToForkPullRequests: z.boolean(),
  onlyBuildPullRequests: z.boolean(),
  autoCancelRedundantWorkflows: z.boolean(),
});
export type ProjectSettings = z.infer<typeof ProjectSettings>;
export const defaultProjectSettings = (gitUrl: string): ProjectSettings => ({
  gitUrl,
  defaultBranch: 'main',
  buildForkPullRequests: false,
  passSecretsToForkPullRequests: false,
  onlyBuildPullRequests: false,
  autoCancelRedundantWorkflows: false,
});

/** The webhook secret signs GitHub's deliveries; long and random, as GitHub advises. */
export const WebhookSecret = z.string().min(16, 'must be at least 16 characters (openssl rand -hex 32)').max(256, 'must be at most 256 characters');

/** What `updateProjectSettings` accepts: what is left out stays; `webhookSecret: null` removes it. */
export const ProjectSettingsInput = ProjectSettings.partial().extend({ webhookSecret: WebhookSecret.nullable().optional() }).strict();
export type ProjectSettingsInput = z.infer<typeof ProjectSettingsInput>;
export const parseProjectSettingsInput = (input: unknown): ProjectSettingsInput => parseInput(ProjectSettingsInput, input, 'project settings');

const ref = { projectId: z.string(), slug: z.string() };
export const projectCreated = defineEvent(
  'project.create',
  z.object({ ...ref, name: z.string(), organization: z.string(), organizationId: z.string(), settings: ProjectSettings }),
  {
    publicFields: ['projectId', 'slug', 'name', 'organization', 'organizationId', 'settings'],
  },
);
/** `changed` names every field that changed, the webhook secret included; its value is only ever sealed. */
export const projectSettingsUpdated = defineEvent(
  'project.settings.update',
  z.object({ ...ref, settings: ProjectSettings.partial(), changed: z.array(z.string()), webhookSecret: SealedSecret.nullable().optional() }),
  { publicFields: ['projectId', 'slug', 'settings', 'changed'] },
);
export const projectEnvVarCreated = defineEvent('project.env_var.create', z.object({ ...ref, name: z.string(), secret: SealedSecret }), {
  publicFields: ['projectId', 'slug', 'name'],
});
export const projectEnvVarDeleted = defineEvent('project.env_var.delete', z.object({ ...ref, name: z.string() }), {
  publicFields: ['projectId', 'slug', 'name'],
});
/**
 * Gyre's webhook on the GitHub repository, registered with the follower's GitHub token at follow
 * time: its secret is sealed under the project's data key, and only its id is public.
 */
export const projectWebhookCreated = defineEvent(
  'project.webhook.create',
  z.object({ ...ref, repository: z.string(), hookId: z.number().int(), followerId: z.string(), followerLogin: z.string(), webhookSecret: SealedSecret }),
  { publicFields: ['projectId', 'slug', 'repository', 'hookId', 'followerId', 'followerLogin'] },
);
/** Following stops: the webhook (`hookId`, if there was one) was removed from GitHub, deliveries start nothing. */
export const projectUnfollowed = defineEvent('project.unfollow', z.object({ ...ref, repository: z.string().nullable(), hookId: z.number().int().nullable() }), {
  publicFields: ['projectId', 'slug', 'repository', 'hookId'],
});
/** An unfollowed project followed again: its settings, variables and pipelines are as they were. */
export const projectFollowed = defineEvent('project.follow', z.object(ref), { publicFields: ['projectId', 'slug'] });
export const projectEvents = [
  projectCreated,
  projectSettingsUpdated,
  projectEnvVarCreated,
  projectEnvVarDeleted,
  projectWebhookCreated,
  projectUnfollowed,
  projectFollowed,
];

export type ProjectEvent =
  | EventOf<typeof projectCreated>
  | EventOf<typeof projectSettingsUpdated>
  | EventOf<typeof projectEnvVarCreated>
  | EventOf<typeof projectEnvVarDeleted>
  | EventOf<typeof projectWebhookCreated>
  | EventOf<typeof projectUnfollowed>
  | EventOf<typeof projectFollowed>;

/** The webhook a follow registered on GitHub, as the follow command carries it. */
export interface FollowHook {
  readonly repository: string;
  readonly hookId: number;
  readonly followerId: string;
  readonly followerLogin: string;
  readonly webhookSecret: SealedSecret;
}

/**
 * Secrets arrive sealed: the API seals them under the project's data key before the command. `by`: who
 * asks; `gitHosts`: where non-admins may point a git URL.
 */
export type ProjectCommand = { by: Member } & (
  | { type: 'create'; projectId: string; slug: ProjectSlug; gitUrl: string; gitHosts: GitHosts; hook?: FollowHook | null }
  | { type: 'unfollow' }
  | { type: 'updateSettings'; gitHosts: GitHosts; settings: Omit<ProjectSettingsInput, 'webhookSecret'>; webhookSecret?: SealedSecret | null }
  | { type: 'storeEnvVar'; name: string; secret: SealedSecret }
  | { type: 'deleteEnvVar'; name: string }
);

export interface Project {
  readonly projectId: string;
  readonly slug: string;
  readonly settings: ProjectSettings;
  readonly webhookSecret: SealedSecret | null;
  /** Each variable's sealed value: the one place job dispatch decrypts them from. */
  readonly envVars: ReadonlyMap<string, SealedSecret>;
  /** False once unfollowed, until followed again. */
  readonly followed: boolean;
  /** Gyre's webhook on GitHub, when following registered one. */
  readonly hook: Omit<FollowHook, 'webhookSecret'> | null;
  /** The GitHub repository (`owner/name`) a webhook was registered on, kept after unfollowing: following again registers it there. */
  readonly repository: string | null;
}
export type ProjectState = Project | null;

/** The project, which only its organization's members and admins may change. */
const existing = (s: ProjectState, by: Member): Project => {
  if (!s) throw new NotFoundError('no such project: follow it first with createProject', 'PROJECT_NOT_FOUND');
  requireOrgMember(by, ownerSlugOf(s.slug));
  return s;
};

export const projectDecider: Decider<ProjectState, ProjectCommand, ProjectEvent> = {
  initialState: () => null,
  evolve: (s, e) => {
    if (e.type === 'project.create')
      return {
        projectId: e.data.projectId,
        slug: e.data.slug,
        settings: e.data.settings,
        webhookSecret: null,
        envVars: new Map(),
        followed: true,
        hook: null,
        repository: null,
      };
    if (!s) return s;
    switch (e.type) {
      case 'project.settings.update':
        return {
          ...s,
          settings: { ...s.settings, ...e.data.settings },
          webhookSecret: e.data.webhookSecret === undefined ? s.webhookSecret : e.data.webhookSecret,
        };
      case 'project.env_var.create':
        return { ...s, envVars: new Map(s.envVars).set(e.data.name, e.data.secret) };
      case 'project.env_var.delete': {
        const envVars = new Map(s.envVars);
        envVars.delete(e.data.name);
        return { ...s, envVars };
      }
      case 'project.webhook.create': {
        const { repository, hookId, followerId, followerLogin, webhookSecret } = e.data;
        return { ...s, webhookSecret, hook: { repository, hookId, followerId, followerLogin }, repository };
      }
      // the secret stays: a delivery still on its way is recognised, and answered that it starts nothing
      case 'project.unfollow':
        return { ...s, followed: false, hook: null };
      case 'project.follow':
        return { ...s, followed: true };
    }
  },
  decide: (c, s) => {
    switch (c.type) {
      case 'create': {
        requireOrgMember(c.by, c.slug.orgSlug);
        if (s?.followed) throw new DomainError('PROJECT_EXISTS', `${s.slug} is already followed`);
        // following again keeps the project's git URL, and the GitHub repository its webhook goes on
        if (s && c.gitUrl !== s.settings.gitUrl)
          throw new DomainError(
            'GIT_URL_CHANGED',
            `${s.slug} was followed before with git URL ${s.settings.gitUrl}: follow it again without a gitUrl (or with that one), then change it in its settings`,
          );
        if (!s) requireAllowedGitUrl(c.by, c.gitUrl, c.gitHosts);
        const projectId = s?.projectId ?? c.projectId;
        const slug = s?.slug ?? c.slug.slug;
        const hook: ProjectEvent[] = c.hook ? [{ type: 'project.webhook.create', data: { projectId, slug, ...c.hook } }] : [];
        if (s) return [{ type: 'project.follow', data: { projectId, slug } }, ...hook];
        const settings = defaultProjectSettings(c.gitUrl);
        return [
          {
            type: 'project.create',
            data: { projectId, slug, name: c.slug.repo, organization: c.slug.org, organizationId: orgId(c.slug.orgSlug.toLowerCase()), settings },
          },
          ...hook,
        ];
      }
      case 'unfollow': {
        const p = existing(s, c.by);
        if (!p.followed) throw new DomainError('PROJECT_NOT_FOLLOWED', `${p.slug} is not followed: follow it again with createProject`);
        return [
          { type: 'project.unfollow', data: { projectId: p.projectId, slug: p.slug, repository: p.hook?.repository ?? null, hookId: p.hook?.hookId ?? null } },
        ];
      }
      case 'updateSettings': {
        const p = existing(s, c.by);
        if (c.settings.gitUrl !== undefined) requireAllowedGitUrl(c.by, c.settings.gitUrl, c.gitHosts);
        const settings: Partial<ProjectSettings> = {};
        for (const [k, v] of Object.entries(c.settings) as Array<[keyof ProjectSettings, never]>) if (v !== undefined && p.settings[k] !== v) settings[k] = v;
        const changed: string[] = Object.keys(settings);
        const secretChanged = c.webhookSecret !== undefined && !(c.webhookSecret === null && p.webhookSecret === null);
        if (secretChanged) changed.push('webhookSecret');
        if (changed.length === 0) return [];
        return [
          {
            type: 'project.settings.update',
            data: { projectId: p.projectId, slug: p.slug, settings, changed, ...(secretChanged ? { webhookSecret: c.webhookSecret } : {}) },
          },
        ];
      }
      case 'storeEnvVar': {
        const p = existing(s, c.by);
        return [{ type: 'project.env_var.create', data: { projectId: p.projectId, slug: p.slug, name: c.name, secret: c.secret } }];
      }
      case 'deleteEnvVar': {
        const p = existing(s, c.by);
        if (!p.envVars.has(c.name)) throw new NotFoundError(`${p.slug} has no environment variable ${c.name}`, 'ENV_VAR_NOT_FOUND');
        return [{ type: 'project.env_var.delete', data: { projectId: p.projectId, slug: p.slug, name: c.name } }];
      }
    }
  },
};
