import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';

/**
 * A scheduled pipeline's timetable, in CircleCI's API v2 shape. Every time is UTC. `per-hour` runs
 * spread evenly over the hour: run i (from 0) is at minute floor(i × 60 / per-hour), so 1 → :00,
 * 2 → :00 and :30, 3 → :00, :20, :40, 60 → every minute. A day must match every list given and not
 * empty (`days-of-week`, `days-of-month`, `months`; API clients send empty lists for "any"), and
 * days-of-week or days-of-month must name one day at least.
 */
export const Weekday = z.enum(['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN']);
export const Month = z.enum(['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC']);
const setOf = <T extends z.ZodType>(item: T, what: string) => z.array(item).refine((v) => new Set(v).size === v.length, `must not name a ${what} twice`);
const nonEmptySet = <T extends z.ZodType>(item: T, what: string) => setOf(item, what).refine((v) => v.length > 0, `must name at least one ${what}`);
export const Timetable = z
  .object({
    'per-hour': z.number().int('must be a whole number').min(1, 'must be from 1 to 60').max(60, 'must be from 1 to 60'),
    'hours-of-day': nonEmptySet(z.number().int('must be whole hours').min(0, 'hours are 0 to 23 (UTC)').max(23, 'hours are 0 to 23 (UTC)'), 'hour'),
    'days-of-week': setOf(Weekday, 'day of the week').optional(),
    'days-of-month': setOf(
      z.number().int('must be whole days').min(1, 'days of the month are 1 to 31').max(31, 'days of the month are 1 to 31'),
      'day of the month',
    ).optional(),
    months: setOf(Month, 'month').optional(),
  })
  .strict()
  .refine((t) => (t['days-of-week']?.length ?? 0) > 0 || (t['days-of-month']?.length ?? 0) > 0, {
    message: 'give days-of-week or days-of-month (or both)',
    path: ['days-of-week'],
  });
export type Timetable = z.infer<typeof Timetable>;

/** The minutes of the hour a timetable runs at. */
export const minutesOfHour = (perHour: number): number[] => Array.from({ length: perHour }, (_, i) => Math.floor((i * 60) / perHour));

const weekdays = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] as const;
const hourMs = 3_600_000;
/** How far back or ahead a slot is looked for: a timetable matches at least one day in any 4 years (29 February). */
const horizonHours = 24 * (366 * 4 + 1);

/** A list left out or empty lets every value through. */
const allows = <T>(list: ReadonlyArray<T> | undefined, v: T) => !list?.length || list.includes(v);
const hourMatches = (t: Timetable, hour: Date): boolean =>
  t['hours-of-day'].includes(hour.getUTCHours()) &&
  allows(t['days-of-week'], weekdays[hour.getUTCDay()]!) &&
  allows(t['days-of-month'], hour.getUTCDate()) &&
  allows(t.months, Month.options[hour.getUTCMonth()]!);

/**
 * The latest slot `s` with `after < s <= now`, or null: what a schedule runs when it is due. After a
 * downtime that spanned many slots this is the last of them only, so a missed schedule runs once.
 */
export const latestSlot = (t: Timetable, after: Date, now: Date): Date | null => {
  const minutes = minutesOfHour(t['per-hour']).reverse();
  let hour = Math.floor(now.getTime() / hourMs) * hourMs;
  for (let i = 0; i < horizonHours && hour + hourMs > after.getTime(); i++, hour -= hourMs) {
    if (!hourMatches(t, new Date(hour))) continue;
    for (const m of minutes) {
      const slot = hour + m * 60_000;
      if (slot <= now.getTime() && slot > after.getTime()) return new Date(slot);
    }
  }
  return null;
};

/** The first slot after `t`, or null when none is within four years (a day that never comes, such as 31 February). */
export const nextSlot = (t: Timetable, after: Date): Date | null => {
  const minutes = minutesOfHour(t['per-hour']);
  let hour = Math.floor(after.getTime() / hourMs) * hourMs;
  for (let i = 0; i < horizonHours; i++, hour += hourMs) {
    if (!hourMatches(t, new Date(hour))) continue;
    for (const m of minutes) {
      const slot = hour + m * 60_000;
      if (slot > after.getTime()) return new Date(slot);
    }
  }
  return null;
};

/** A legacy scheduled workflow's cron expression (five fields, UTC), checked as CircleCI's config does. */
export const parseCron = (cron: string): { ok: true } | { ok: false; error: string } => {
  if (cron.trim().split(/\s+/).length !== 5)
    return { ok: false, error: `cron "${cron}" must have five fields (minute hour day-of-month month day-of-week, UTC)` };
  try {
    CronExpressionParser.parse(cron, { tz: 'UTC' });
    return { ok: true };
  } catch (e) {
    return { ok: false, error: `cron "${cron}" does not parse: ${(e as Error).message}` };
  }
};

/** The latest time `s` a cron expression names with `after < s <= now`, or null. */
export const latestCronSlot = (cron: string, after: Date, now: Date): Date | null => {
  // prev() gives the latest time strictly before currentDate: start a millisecond after now so now itself counts
  const expression = CronExpressionParser.parse(cron, { tz: 'UTC', currentDate: new Date(now.getTime() + 1) });
  const slot = expression.prev().toDate();
  return slot.getTime() > after.getTime() ? slot : null;
};
