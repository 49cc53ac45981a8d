/** Whether an ISO 8601 date, or the date of a date-time, is a day the calendar has: 2026-02-31 is not, though `Date` rolls it into March. */
export const isCalendarDate = (iso: string): boolean => {
  const m = /^(\d{4})-(\d\d)-(\d\d)/.exec(iso);
  if (!m) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return month >= 1 && month <= 12 && day >= 1 && day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
};
