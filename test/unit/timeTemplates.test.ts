import {
  enumerateTemplate,
  everyMs,
  localTime,
  renderTemplate,
  TemplateError,
  templateProblem,
  templateUnit,
  zoneProblem,
} from '../../src/engine/timeTemplates.js';

const PARIS = 'Europe/Paris';
const at = (iso: string) => Date.parse(iso);
const render = (template: string, iso: string, zone = PARIS) => renderTemplate(template, at(iso), zone);
const values = (refs: string[]) => refs.map((ref) => ref.slice(ref.indexOf('=') + 1));
/** The TemplateError `fn` throws, as {field, message}. */
function failure(fn: () => unknown): { field: string; message: string } {
  try {
    fn();
  } catch (e) {
    if (e instanceof TemplateError) return { field: e.field, message: e.message };
    throw e;
  }
  throw new Error('did not throw');
}

describe('rendering', () => {
  test('each variable at an instant in UTC', () => {
    expect(render('x/d={date}/h={hour}/t={datetime}/w={week}/m={month}', '2026-11-01T05:42:00Z', 'UTC')).toBe(
      'x/d=2026-11-01/h=05/t=2026-11-01T05/w=2026-W44/m=2026-11',
    );
  });

  test('Asia/Kolkata (+05:30): the local day turns at 18:30 UTC', () => {
    const t = 'x/d={date}/t={datetime}';
    expect(render(t, '2026-10-31T18:29:59Z', 'Asia/Kolkata')).toBe('x/d=2026-10-31/t=2026-10-31T23');
    expect(render(t, '2026-10-31T18:30:00Z', 'Asia/Kolkata')).toBe('x/d=2026-11-01/t=2026-11-01T00');
    expect(render('x/d={date-1d}/h={hour-1h}', '2026-10-31T18:45:00Z', 'Asia/Kolkata')).toBe('x/d=2026-10-31/h=23');
    expect(render('x/d={date}', '2026-10-31T18:30:00Z', 'UTC')).toBe('x/d=2026-10-31');
  });

  test('Paris spring forward (2026-03-29): there is no 02, and day offsets are calendar days', () => {
    expect(render('x/t={datetime}', '2026-03-29T00:59:59Z')).toBe('x/t=2026-03-29T01');
    expect(render('x/t={datetime}', '2026-03-29T01:00:00Z')).toBe('x/t=2026-03-29T03');
    expect(render('x/h={hour-1h}', '2026-03-29T01:00:00Z')).toBe('x/h=01');
    // 2026-03-30 00:30 in Paris (CEST) is 22:30 UTC on the 29th; the day before locally is the 29th
    expect(render('x/d={date-1d}', '2026-03-29T22:30:00Z')).toBe('x/d=2026-03-29');
    // 24 hours before would be 2026-03-28T23:30 local: a day offset is not 24 hours
    expect(render('x/t={datetime-24h}', '2026-03-29T22:30:00Z')).toBe('x/t=2026-03-28T23');
    // the same local time a day earlier does not exist (02:30): read as the jump past it
    expect(render('x/t={datetime-1d}', '2026-03-30T00:30:00Z')).toBe('x/t=2026-03-29T03');
  });

  test('Paris fall back (2026-10-25): the repeated 02 carries its offset the second time', () => {
    const t = 'x/t={datetime}/h={hour}';
    expect(render(t, '2026-10-25T00:30:00Z')).toBe('x/t=2026-10-25T02/h=02'); // 02:30 +02:00
    expect(render(t, '2026-10-25T01:00:00Z')).toBe('x/t=2026-10-25T02+01:00/h=02+01:00'); // 02:00 +01:00
    expect(render(t, '2026-10-25T01:59:59Z')).toBe('x/t=2026-10-25T02+01:00/h=02+01:00');
    expect(render(t, '2026-10-25T02:00:00Z')).toBe('x/t=2026-10-25T03/h=03');
    expect(render('x/t={datetime-1h}', '2026-10-25T02:30:00Z')).toBe('x/t=2026-10-25T02+01:00');
    expect(render('x/t={datetime-1h}', '2026-10-25T01:30:00Z')).toBe('x/t=2026-10-25T02');
    // a day offset lands on the first of the two 02:30s
    expect(render('x/t={datetime-1d}', '2026-10-26T01:30:00Z')).toBe('x/t=2026-10-25T02');
    expect(render('x/d={date}/w={week}', '2026-10-25T01:30:00Z')).toBe('x/d=2026-10-25/w=2026-W43');
  });

  test('New York falls back an hour later in UTC, with a negative offset', () => {
    expect(render('x/t={datetime}', '2026-11-01T05:30:00Z', 'America/New_York')).toBe('x/t=2026-11-01T01');
    expect(render('x/t={datetime}', '2026-11-01T06:30:00Z', 'America/New_York')).toBe('x/t=2026-11-01T01-05:00');
  });

  test('month ends: a month offset keeps the day when it exists, else the last day', () => {
    expect(render('x/d={date+1m}/m={month+1m}', '2026-01-31T12:00:00Z', 'UTC')).toBe('x/d=2026-02-28/m=2026-02');
    expect(render('x/d={date+1m}', '2028-01-31T12:00:00Z', 'UTC')).toBe('x/d=2028-02-29');
    expect(render('x/d={date-1m}', '2026-03-31T12:00:00Z', 'UTC')).toBe('x/d=2026-02-28');
    expect(render('x/d={date-1d}', '2028-03-01T12:00:00Z', 'UTC')).toBe('x/d=2028-02-29');
    expect(render('x/m={month-1m}', '2026-01-15T12:00:00Z', 'UTC')).toBe('x/m=2025-12');
    expect(render('x/d={date+1d}', '2026-12-31T12:00:00Z', 'UTC')).toBe('x/d=2027-01-01');
  });

  test('ISO weeks use the ISO year: 2026 has a week 53 that 2027-01-01 belongs to', () => {
    const week = (iso: string) => render('x/w={week}', `${iso}T12:00:00Z`, 'UTC');
    expect(week('2025-12-29')).toBe('x/w=2026-W01'); // Monday of the week of 2026-01-01, a Thursday
    expect(week('2026-12-27')).toBe('x/w=2026-W52');
    expect(week('2026-12-28')).toBe('x/w=2026-W53');
    expect(week('2026-12-31')).toBe('x/w=2026-W53');
    expect(week('2027-01-01')).toBe('x/w=2026-W53');
    expect(week('2027-01-03')).toBe('x/w=2026-W53');
    expect(week('2027-01-04')).toBe('x/w=2027-W01');
    expect(render('x/w={week-1w}', '2027-01-07T12:00:00Z', 'UTC')).toBe('x/w=2026-W53');
    expect(render('x/w={week+1w}', '2026-12-31T12:00:00Z', 'UTC')).toBe('x/w=2027-W01');
  });

  test('localTime gives the local time with its offset', () => {
    expect(localTime(at('2026-10-25T01:30:00Z'), PARIS)).toBe('2026-10-25T02:30:00+01:00');
    expect(localTime(at('2026-10-31T18:45:07Z'), 'Asia/Kolkata')).toBe('2026-11-01T00:15:07+05:30');
  });
});

describe('validation', () => {
  test('valid templates, and the unit of each', () => {
    expect(templateProblem('sales/region=eu/date={date-1d}')).toBeUndefined();
    expect(templateUnit('logs/date={date}/hour={hour+2h}')).toBe('hour');
    expect(templateUnit('x/t={datetime}')).toBe('hour');
    expect(templateUnit('x/d={date-1m}')).toBe('day');
    expect(templateUnit('x/w={week}/m={month}')).toBe('week');
    expect(templateUnit('x/m={month}')).toBe('month');
    expect(templateUnit('dim/customers')).toBe('day');
  });

  test.each([
    ['sales/region={region}/date={date}', /uses \{region\}: .*time variables only/],
    ['x/a={a}/b={b}', /uses \{a\}, \{b\}/],
    ['x/d={date-1x}', /has \{date-1x\}: an offset is/],
    ['x/d={date-1}', /an offset is/],
    ['x/d={date+12345d}', /an offset is/],
    ['x/d={}', /not a variable/],
    ['logs/{date}', /must be a whole value/],
    ['x/d=day-{date}', /must be a whole value/],
    ['x/bad key={date}', /invalid key/],
    ['', /is empty/],
  ])('%j is refused', (template, problem) => {
    expect(templateProblem(template)).toMatch(problem);
    expect(failure(() => renderTemplate(template, 0, 'UTC'))).toEqual({ field: 'partitions', message: expect.stringMatching(problem) });
  });

  test('zones: IANA names spelled as in the tz database', () => {
    for (const zone of ['UTC', PARIS, 'Asia/Kolkata', 'America/Argentina/Buenos_Aires', 'Etc/GMT+5']) expect(zoneProblem(zone)).toBeUndefined();
    expect(zoneProblem('Mars/Olympus')).toMatch(/not an IANA time zone/);
    expect(zoneProblem('+05:30')).toMatch(/not an IANA time zone/);
    expect(zoneProblem('europe/paris')).toMatch(/did you mean Europe\/Paris/);
    expect(failure(() => renderTemplate('x/d={date}', 0, 'Mars/Olympus')).field).toBe('timezone');
    expect(failure(() => enumerateTemplate('x/d={date}', { from: '2026-01-01', to: '2026-01-02', zone: 'utc' })).field).toBe('timezone');
  });

  test('schedule intervals: fixed durations, m is minutes', () => {
    expect(everyMs('2s')).toBe(2000);
    expect(everyMs('15m')).toBe(900_000);
    expect(everyMs('1h')).toBe(3_600_000);
    expect(everyMs('1d')).toBe(86_400_000);
    expect(everyMs('500ms')).toBe(500);
    expect(failure(() => everyMs('1mo'))).toEqual({ field: 'every', message: expect.stringMatching(/not a fixed duration/) });
    expect(failure(() => everyMs('0s')).field).toBe('every');
    expect(failure(() => everyMs('1h30m', 'deadline'))).toEqual({ field: 'deadline', message: expect.stringMatching(/not a duration/) });
  });
});

describe('ranges', () => {
  const range = (template: string, from: string, to: string, more: { step?: string; zone?: string; limit?: number } = {}) =>
    values(enumerateTemplate(template, { from, to, zone: PARIS, ...more }));

  test('a daily template over both Paris DST changes: one partition per local day, both ends included', () => {
    const days = (d: string[]) => d.map((day) => `2026-${day}`);
    expect(range('x/d={date}', '2026-03-27', '2026-04-01')).toEqual(days(['03-27', '03-28', '03-29', '03-30', '03-31', '04-01']));
    expect(range('x/d={date}', '2026-10-23', '2026-10-28')).toEqual(days(['10-23', '10-24', '10-25', '10-26', '10-27', '10-28']));
    // from a local time of day, each step is the same local time (02:30 on the 29th does not exist: 03:30)
    expect(range('x/d={date}', '2026-03-28T02:30', '2026-03-31T02:30')).toEqual(days(['03-28', '03-29', '03-30', '03-31']));
    // the schedule of the issue: ticks at 00:30 build the day before
    expect(range('x/d={date-1d}', '2026-03-28T00:30', '2026-04-02T00:30')).toEqual(days(['03-27', '03-28', '03-29', '03-30', '03-31', '04-01']));
    // hourly steps over a daily template: each day once
    expect(range('x/d={date}', '2026-10-24', '2026-10-26', { step: '1h' })).toEqual(days(['10-24', '10-25', '10-26']));
  });

  test('an hourly template: 23 partitions on the spring day, 25 distinct ones on the autumn day', () => {
    const spring = range('x/t={datetime}', '2026-03-29', '2026-03-29T23');
    expect(spring).toHaveLength(23);
    expect(spring.slice(0, 3)).toEqual(['2026-03-29T00', '2026-03-29T01', '2026-03-29T03']);
    expect(spring).not.toContain('2026-03-29T02');
    const autumn = range('x/t={datetime}', '2026-10-25', '2026-10-25T23');
    expect(autumn).toHaveLength(25);
    expect(new Set(autumn).size).toBe(25);
    expect(autumn.slice(1, 5)).toEqual(['2026-10-25T01', '2026-10-25T02', '2026-10-25T02+01:00', '2026-10-25T03']);
    expect([...autumn].sort()).toEqual(autumn);
    expect(range('x/h={hour}', '2026-10-25', '2026-10-25T23')).toHaveLength(25);
    // a 24-hour day around them has 24
    expect(range('x/t={datetime}', '2026-10-26', '2026-10-26T23')).toHaveLength(24);
  });

  test('steps of several units, weeks over week 53, months from a month end', () => {
    expect(range('x/t={datetime}', '2026-03-28T22', '2026-03-29T06', { step: '2h' })).toEqual([
      '2026-03-28T22',
      '2026-03-29T00',
      '2026-03-29T03', // two hours of elapsed time after 00:00 CET is 03:00 CEST
      '2026-03-29T05',
    ]);
    expect(range('x/w={week}', '2026-12-16', '2027-01-13', { zone: 'UTC' })).toEqual(['2026-W51', '2026-W52', '2026-W53', '2027-W01', '2027-W02']);
    expect(range('x/d={date}', '2028-01-31', '2028-05-31', { step: '1m', zone: 'UTC' })).toEqual([
      '2028-01-31',
      '2028-02-29',
      '2028-03-31',
      '2028-04-30',
      '2028-05-31',
    ]);
    expect(range('x/m={month}', '2026-01-31', '2026-04-30')).toEqual(['2026-01', '2026-02', '2026-03', '2026-04']);
    expect(range('x/d={date}', '2026-01-01', '2026-01-01')).toEqual(['2026-01-01']);
    expect(range('dim/customers', '2026-01-01', '2026-01-31')).toEqual(['dim/customers']);
  });

  test('Asia/Kolkata ranges follow its local days', () => {
    const refs = enumerateTemplate('x/t={datetime}', { from: '2026-11-01', to: '2026-11-01T02', zone: 'Asia/Kolkata' });
    expect(values(refs)).toEqual(['2026-11-01T00', '2026-11-01T01', '2026-11-01T02']);
    expect(renderTemplate('x/t={datetime}', Date.parse('2026-10-31T18:30:00Z'), 'UTC')).toBe('x/t=2026-10-31T18');
  });

  test('the limit counts steps, inclusive of both ends', () => {
    expect(range('x/t={datetime}', '2026-01-01', '2026-01-01T23', { limit: 24 })).toHaveLength(24);
    expect(failure(() => range('x/t={datetime}', '2026-01-01', '2026-01-01T23', { limit: 23 }))).toEqual({
      field: 'to',
      message: expect.stringMatching(/more than 23 partitions/),
    });
    expect(failure(() => range('x/t={datetime}', '2000-01-01', '2026-01-01')).message).toMatch(/more than 100000 partitions/);
  });

  test.each([
    ['from', { from: '2026-13-01' }, /no such day/],
    ['from', { from: '2026-02-29' }, /no such day/],
    ['from', { from: '2026-03-29 02:00' }, /not a date/],
    ['from', { from: 'yesterday' }, /not a date/],
    ['from', { from: '0999-12-31' }, /years 1000 to 9999/],
    ['to', { to: '2026-03-29T24' }, /no such day or time/],
    ['to', { to: '2026-03-29T10:60' }, /no such day or time/],
    ['to', { from: '2026-04-02', to: '2026-04-01' }, /is before from/],
    ['step', { step: '1x' }, /not a step/],
    ['step', { step: '0d' }, /not a step/],
    ['step', { step: '15min' }, /not a step/],
    ['timezone', { zone: 'Europe/Atlantis' }, /not an IANA time zone/],
    ['partitions', { template: 'x/d={day}' }, /time variables only/],
  ])('a bad %s is a TemplateError naming it (%j)', (field, bad: Record<string, string>, message) => {
    const { template = 'x/d={date}', ...rest } = bad;
    const input = { from: '2026-03-27', to: '2026-04-01', zone: PARIS, ...rest };
    expect(failure(() => enumerateTemplate(template, input))).toEqual({ field, message: expect.stringMatching(message) });
  });
});
