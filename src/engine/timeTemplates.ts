/**
 * Time templates: partition patterns whose variables come from a point in time in an IANA time zone, as
 * schedules and backfills use them (`sales/date={date-1d}`, `logs/date={date}/hour={hour}`).
 *
 * Variables (each a whole value, `key={var}`): `{date}` 2026-11-01, `{hour}` 00–23, `{datetime}`
 * 2026-11-01T05, `{week}` the ISO week 2026-W45 (with the ISO year: 2027-01-01 is 2026-W53), `{month}`
 * 2026-11. Each takes an optional offset `+N` or `-N` with a unit: `h` hours, `d` days, `w` weeks, `m`
 * months (`{date-1d}`, `{hour-1h}`, `{datetime-3h}`, `{month-1m}`). `h` is elapsed time (3,600 s); `d`,
 * `w` and `m` are calendar units of the zone: the same local time that many days/months away (a month
 * from 01-31 is the end of February), so `{date-1d}` at 2026-03-30 00:30 Paris is 2026-03-29 although
 * that day had 23 hours.
 *
 * DST. Daily, weekly and monthly values follow the local calendar, so a range yields one partition per
 * local day whatever the day's length. Hourly values are the hours that really happen: a spring-forward
 * day has 23 of them (there is no 02 in Paris on 2026-03-29) and a fall-back day 25. The local hour that
 * happens twice (02 in Paris on 2026-10-25) is rendered plainly the first time and with its UTC offset the
 * second time: `{datetime}` 2026-10-25T02 then 2026-10-25T02+01:00, `{hour}` 02 then 02+01:00. So the
 * 25 real hours are 25 distinct partitions (neither hour of data lands in a partition already built for
 * the other), every other hour of the year keeps its plain name, the name depends only on the instant,
 * and it sorts between T02 and T03. A local time that does not exist (02:30 in a spring gap) is read as
 * the instant the clocks jump past it, and one that exists twice as its first occurrence (as JavaScript's
 * Temporal "compatible" disambiguation does).
 *
 * Pure: Intl (full ICU) and arithmetic only.
 */
import { partitionRefProblem } from './partitions.js';

export type TimeUnit = 'hour' | 'day' | 'week' | 'month';

/** A bad input, naming the request field it came from (partitions, from, to, step, timezone, every, ...). */
export class TemplateError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'TemplateError';
  }
}

const VARIABLES = { hour: 'hour', datetime: 'hour', date: 'day', week: 'week', month: 'month' } as const;
type Variable = keyof typeof VARIABLES;
const UNIT_ORDER: TimeUnit[] = ['hour', 'day', 'week', 'month'];
const OFFSET_UNITS = { h: 'hour', d: 'day', w: 'week', m: 'month' } as const;

interface Use {
  name: Variable;
  /** Signed count of `unit`s added to the instant before rendering; 0 without an offset. */
  count: number;
  unit: TimeUnit;
}

const BRACES = /\{([^{}]*)\}/g;
const USE = /^(date|hour|datetime|week|month)(?:([+-])(\d{1,4})([hdwm]))?$/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The longest value each variable renders (the repeated hour with a half-hour offset), to check ref syntax. */
const LONGEST: Record<Variable, string> = {
  date: '2026-11-01',
  hour: '02-09:30',
  datetime: '2026-11-01T02-09:30',
  week: '2026-W45',
  month: '2026-11',
};

function parseUse(inner: string): Use | undefined {
  const m = USE.exec(inner);
  if (!m) return undefined;
  const name = m[1] as Variable;
  if (m[2] === undefined) return { name, count: 0, unit: 'hour' };
  return { name, count: (m[2] === '-' ? -1 : 1) * Number(m[3]), unit: OFFSET_UNITS[m[4] as keyof typeof OFFSET_UNITS] };
}

/** Why `template` is not a valid time template, or undefined. */
export function templateProblem(template: string): string | undefined {
  if (template.length === 0) return 'is empty';
  const notTime: string[] = [];
  for (const segment of template.split('/')) {
    if (!segment.includes('{') && !segment.includes('}')) continue;
    const eq = segment.indexOf('=');
    const value = eq === -1 ? segment : segment.slice(eq + 1);
    const whole = /^\{([^{}]*)\}$/.exec(value);
    if (eq === -1 || !whole) return `has "${segment}": a variable must be a whole value, as in "date={date}"`;
    const inner = whole[1]!;
    if (parseUse(inner)) continue;
    if (NAME.test(inner)) notTime.push(`{${inner}}`);
    else if (USE.test(inner.replace(/[+-].*$/, '')))
      return `has {${inner}}: an offset is + or - a whole number (up to 4 digits) and h, d, w or m, as in {date-1d} or {hour+2h}`;
    else return `has {${inner}}, which is not a variable`;
  }
  if (notTime.length > 0)
    return `uses ${notTime.join(', ')}: a template's variables are time variables only ({date}, {hour}, {datetime}, {week}, {month})`;
  const sample = template.replace(BRACES, (_whole, inner: string) => LONGEST[parseUse(inner)!.name]);
  return partitionRefProblem(sample);
}

function uses(template: string): Use[] {
  const problem = templateProblem(template);
  if (problem) throw new TemplateError('partitions', `template "${template}" ${problem}`);
  return [...template.matchAll(BRACES)].map((m) => parseUse(m[1]!)!);
}

/**
 * The smallest unit among the template's variables: hour for {hour}/{datetime}, day for {date}, then week,
 * month. A template without time variables names one fixed partition; its unit is 'day' (a range over it
 * steps by days and yields that one partition).
 */
export function templateUnit(template: string): TimeUnit {
  const units = uses(template).map((u) => VARIABLES[u.name]);
  return UNIT_ORDER.find((unit) => units.includes(unit)) ?? 'day';
}

// ---- time zones -------------------------------------------------------------------------------------

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** Why `zone` is not an IANA time zone Intl knows (spelled as in the tz database), or undefined. */
export function zoneProblem(zone: string): string | undefined {
  let resolved: string;
  try {
    resolved = formatter(zone).resolvedOptions().timeZone;
  } catch {
    return `"${zone}" is not an IANA time zone (such as UTC, Europe/Paris or Asia/Kolkata)`;
  }
  // Intl ignores case; Temporal's server (Go) does not.
  if (zone !== resolved && (zone.toLowerCase() === resolved.toLowerCase() || zone.split('/').some((part) => !/^[A-Z]/.test(part))))
    return `"${zone}" is not spelled as in the tz database${zone.toLowerCase() === resolved.toLowerCase() ? ` (did you mean ${resolved}?)` : ''}`;
  return undefined;
}

function checkZone(zone: string, field = 'timezone'): void {
  const problem = zoneProblem(zone);
  if (problem) throw new TemplateError(field, problem);
}

/** A local wall time: calendar fields with no zone. */
interface Wall {
  year: number;
  month: number; // 1–12
  day: number;
  hour: number;
  minute: number;
}

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** The wall time as if it were UTC, in ms (setUTCFullYear: Date.UTC reads years 0–99 as 19xx). */
function wallMs(w: Wall): number {
  const d = new Date(0);
  d.setUTCFullYear(w.year, w.month - 1, w.day);
  d.setUTCHours(w.hour, w.minute, 0, 0);
  return d.getTime();
}

function wallOf(ms: number): Wall {
  const d = new Date(ms);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes() };
}

/** The zone's UTC offset at the instant, in ms, from Intl. */
function intlOffset(atMs: number, zone: string): number {
  const parts: Record<string, number> = {};
  for (const p of formatter(zone).formatToParts(atMs)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const wall = { year: parts.year!, month: parts.month!, day: parts.day!, hour: parts.hour!, minute: parts.minute! };
  return wallMs(wall) + parts.second! * 1000 - Math.floor(atMs / 1000) * 1000;
}

/**
 * The zone's UTC offset at the instant, in ms. Intl is slow (~10 µs a call), so the offset of each UTC day
 * whose first and last second have the same offset is cached: a zone changes its offset at most once a day.
 */
const dayOffsets = new Map<string, number | null>();
function offsetAt(atMs: number, zone: string): number {
  const day = Math.floor(atMs / DAY);
  const key = `${day} ${zone}`;
  let offset = dayOffsets.get(key);
  if (offset === undefined) {
    const first = intlOffset(day * DAY, zone);
    offset = first === intlOffset((day + 1) * DAY - 1000, zone) ? first : null;
    if (dayOffsets.size >= 100_000) dayOffsets.clear();
    dayOffsets.set(key, offset);
  }
  return offset ?? intlOffset(atMs, zone);
}

/** The local wall time of the instant (to the minute) and the zone's UTC offset then, in ms. */
function local(atMs: number, zone: string): { wall: Wall; offsetMs: number } {
  const offsetMs = offsetAt(atMs, zone);
  return { wall: wallOf(atMs + offsetMs), offsetMs };
}

/** The instant of a local wall time: the first of two (fall back), the jump past it for a gap (spring forward). */
function instantOf(w: Wall, zone: string): number {
  const ms = wallMs(w);
  const before = offsetAt(ms - DAY, zone);
  const after = offsetAt(ms + DAY, zone);
  const candidates = [ms - before, ms - after].filter((t) => offsetAt(t, zone) === ms - t).sort((a, b) => a - b);
  return candidates[0] ?? ms - before;
}

/** Whether the instant's local time already happened earlier that night, at a larger UTC offset (fall back). */
function isRepeat(atMs: number, zone: string): boolean {
  const offset = offsetAt(atMs, zone);
  const earlier = offsetAt(atMs - DAY, zone);
  return earlier > offset && offsetAt(atMs - (earlier - offset), zone) === earlier;
}

function daysIn(year: number, month: number): number {
  return new Date(wallMs({ year, month: month + 1, day: 0, hour: 0, minute: 0 })).getUTCDate();
}

/** The wall time `count` calendar units away: days and weeks by the calendar, months keeping the day when it exists. */
function shift(w: Wall, unit: 'day' | 'week' | 'month', count: number): Wall {
  if (unit !== 'month') return { ...wallOf(wallMs(w) + count * (unit === 'week' ? 7 : 1) * DAY), hour: w.hour, minute: w.minute };
  const index = w.year * 12 + (w.month - 1) + count;
  const year = Math.floor(index / 12);
  const month = (index % 12) + 1;
  return { ...w, year, month, day: Math.min(w.day, daysIn(year, month)) };
}

function advance(atMs: number, unit: TimeUnit, count: number, zone: string): number {
  if (count === 0) return atMs;
  if (unit === 'hour') return atMs + count * HOUR;
  return instantOf(shift(local(atMs, zone).wall, unit, count), zone);
}

// ---- rendering --------------------------------------------------------------------------------------

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

function isoWeek(w: Wall): string {
  const dayMs = wallMs({ ...w, hour: 0, minute: 0 });
  const weekday = ((new Date(dayMs).getUTCDay() + 6) % 7) + 1; // Monday 1 … Sunday 7
  const thursday = wallOf(dayMs + (4 - weekday) * DAY); // the ISO year is the year of the week's Thursday
  const week = Math.floor((wallMs(thursday) - wallMs({ year: thursday.year, month: 1, day: 1, hour: 0, minute: 0 })) / DAY / 7) + 1;
  return `${pad(thursday.year, 4)}-W${pad(week)}`;
}

function offsetText(offsetMs: number): string {
  const minutes = Math.round(Math.abs(offsetMs) / MINUTE);
  return `${offsetMs < 0 ? '-' : '+'}${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}`;
}

function renderVariable(name: Variable, atMs: number, zone: string): string {
  const { wall: w, offsetMs } = local(atMs, zone);
  const date = `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}`;
  const repeat = (name === 'hour' || name === 'datetime') && isRepeat(atMs, zone) ? offsetText(offsetMs) : '';
  switch (name) {
    case 'date':
      return date;
    case 'hour':
      return pad(w.hour) + repeat;
    case 'datetime':
      return `${date}T${pad(w.hour)}${repeat}`;
    case 'week':
      return isoWeek(w);
    case 'month':
      return `${pad(w.year, 4)}-${pad(w.month)}`;
  }
}

/** The partition ref `template` names for the instant `atMs` (epoch ms) in `zone`. */
export function renderTemplate(template: string, atMs: number, zone: string): string {
  uses(template);
  checkZone(zone);
  return render(template, atMs, zone);
}

function render(template: string, atMs: number, zone: string): string {
  return template.replace(BRACES, (_whole, inner: string) => {
    const use = parseUse(inner)!;
    return renderVariable(use.name, advance(atMs, use.unit, use.count, zone), zone);
  });
}

/** The local time of the instant in the zone, ISO 8601 with its offset: 2026-10-25T02:30:00+01:00. */
export function localTime(atMs: number, zone: string): string {
  checkZone(zone);
  const { wall: w, offsetMs } = local(atMs, zone);
  return `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}:${pad(new Date(atMs + offsetMs).getUTCSeconds())}${offsetText(offsetMs)}`;
}

// ---- ranges -----------------------------------------------------------------------------------------

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2}))?)?$/;

/** A range end: a date (its local midnight) or a local time YYYY-MM-DDTHH[:MM], no offset. */
function parseLocal(text: string, field: string): Wall {
  const m = LOCAL.exec(text);
  const problem = `"${text}" is not a date (YYYY-MM-DD) or a local time (YYYY-MM-DDTHH or YYYY-MM-DDTHH:MM)`;
  if (!m) throw new TemplateError(field, problem);
  const [year, month, day, hour, minute] = m.slice(1).map((v) => Number(v ?? 0)) as [number, number, number, number, number];
  if (year < 1000) throw new TemplateError(field, `${problem}: years 1000 to 9999 only`);
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59)
    throw new TemplateError(field, `${problem}: there is no such day or time`);
  return { year, month, day, hour, minute };
}

/** A range's step: a count of hours, days, weeks or months ("2h", "1d", "1w", "1m": here m is a month). */
export function parseStep(text: string, field = 'step'): { count: number; unit: TimeUnit } {
  const m = /^([1-9]\d{0,4})([hdwm])$/.exec(text);
  if (!m) throw new TemplateError(field, `"${text}" is not a step: a whole number and h (hours), d (days), w (weeks) or m (months), such as 1d or 6h`);
  return { count: Number(m[1]), unit: OFFSET_UNITS[m[2] as keyof typeof OFFSET_UNITS] };
}

/**
 * Every partition of the template from `from` to `to`, both inclusive, in time order. The first instant is
 * `from`; then every `step`: hours as elapsed time, days, weeks and months on the local calendar (each
 * counted from `from`, so monthly steps from 01-31 go to 02-28 then 03-31). A partition two steps render
 * alike (hourly steps over a daily template) appears once. Refuses more than `limit` steps (default
 * 100,000) and names the field of any bad input in its TemplateError.
 */
export function enumerateTemplate(template: string, range: { from: string; to: string; step?: string; zone: string; limit?: number }): string[] {
  uses(template);
  checkZone(range.zone);
  const start = parseLocal(range.from, 'from');
  const end = parseLocal(range.to, 'to');
  const step = range.step === undefined ? { count: 1, unit: templateUnit(template) } : parseStep(range.step);
  const limit = range.limit ?? 100_000;
  const startMs = instantOf(start, range.zone);
  const endMs = instantOf(end, range.zone);
  if (endMs < startMs) throw new TemplateError('to', `"${range.to}" is before from "${range.from}"`);
  const refs = new Set<string>();
  for (let k = 0; ; k++) {
    const at = step.unit === 'hour' ? startMs + k * step.count * HOUR : instantOf(shift(start, step.unit, k * step.count), range.zone);
    if (at > endMs) break;
    if (k === limit)
      throw new TemplateError('to', `the range from ${range.from} to ${range.to} by ${range.step ?? `1 ${step.unit}`} has more than ${limit} partitions`);
    refs.add(render(template, at, range.zone));
  }
  return [...refs];
}

// ---- schedule intervals -----------------------------------------------------------------------------

const FIXED_UNITS = { ms: 1, s: 1000, m: MINUTE, h: HOUR, d: DAY, w: 7 * DAY } as const;

/** Why `text` is not a fixed duration ("500ms", "2s", "15m", "1h", "1d", "1w"; m is a minute here), or undefined. */
export function durationProblem(text: string): string | undefined {
  const m = /^([1-9]\d{0,8})(ms|s|m|h|d|w)$/.exec(text);
  if (m) return undefined;
  if (/^\d+(mo|months?)$/.test(text)) return `"${text}": a month is not a fixed duration (use a cron expression)`;
  return `"${text}" is not a duration: a whole number and ms, s, m (minutes), h, d or w, such as 2s, 15m or 1h`;
}

/**
 * A fixed duration in milliseconds, for schedule intervals (`every`), catch-up windows, deadlines and
 * jitter. Unlike template offsets and range steps, `m` is minutes here and days are 24 hours.
 */
export function everyMs(text: string, field = 'every'): number {
  const problem = durationProblem(text);
  if (problem) throw new TemplateError(field, problem);
  const m = /^(\d+)(ms|s|m|h|d|w)$/.exec(text)!;
  return Number(m[1]) * FIXED_UNITS[m[2] as keyof typeof FIXED_UNITS];
}
