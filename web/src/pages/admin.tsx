/** The admin pages (routes.tsx imports them from here); each lives in admin/. */
export { Users } from './admin/users.tsx';
export { Settings } from './admin/settings.tsx';
export { AuditLog } from './admin/audit-log.tsx';
export { Runners } from './admin/runners.tsx';
