import { Page } from '../lib/ui.tsx';

type P = { params: Record<string, string> };
export const Pipeline = ({ params }: P) => <Page title={`Pipeline ${params.number}`}><p>Workflows.</p></Page>;
export const Workflow = ({ params }: P) => <Page title={`Workflow ${params.workflowId}`}><p>Jobs.</p></Page>;
