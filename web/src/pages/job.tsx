import { Page } from '../lib/ui.tsx';

type P = { params: Record<string, string> };
export const Job = ({ params }: P) => <Page title={`Job ${params.jobId}`}><p>Steps.</p></Page>;
export const JobByNumber = ({ params }: P) => <Page title={`Job ${params.jobNumber}`}><p>Steps.</p></Page>;
