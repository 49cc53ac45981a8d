import { Page } from '../lib/ui.tsx';

export const Tokens = () => <Page title="API tokens"><p>Tokens.</p></Page>;
