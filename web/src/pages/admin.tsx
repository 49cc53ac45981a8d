import { Page } from '../lib/ui.tsx';

export const Users = () => <Page title="Users"><p>Users.</p></Page>;
export const Settings = () => <Page title="Settings"><p>Settings.</p></Page>;
export const AuditLog = () => <Page title="Audit log"><p>Audit log.</p></Page>;
export const Runners = () => <Page title="Runners"><p>Runners.</p></Page>;
