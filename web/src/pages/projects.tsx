import { Page } from '../lib/ui.tsx';

type P = { params: Record<string, string> };
export const Projects = (_: P) => <Page title="Projects"><p>Projects.</p></Page>;
export const Project = ({ params }: P) => <Page title={`${params.vcs}/${params.org}/${params.repo}`}><p>Pipelines.</p></Page>;
export const ProjectSettings = ({ params }: P) => <Page title={`Settings of ${params.org}/${params.repo}`}><p>Settings.</p></Page>;
export const Contexts = ({ params }: P) => <Page title={`Contexts of ${params.org}`}><p>Contexts.</p></Page>;
