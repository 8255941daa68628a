import { MAX_MESSAGE_CHARS, normalizeEmails, notificationsFor, truncateMessage, type FailureNotice, type Notification } from '../../src/notify/recipients.js';

const userFailure: FailureNotice = {
  subject: 'deployment',
  id: 'dep-42',
  team: 'finance',
  job: 'daily-sales',
  commit: 'abc1234',
  failure: { kind: 'user', type: 'requirements_failed', message: 'pip: No matching distribution found for pandsa==9.9' },
  link: 'https://strata.example/deployments/dep-42',
  at: '2025-01-02T03:04:05.000Z',
};
const platformFailure: FailureNotice = {
  ...userFailure,
  failure: { kind: 'platform', type: 'image_build_failed', message: 'registry unreachable' },
};
const settings = { adminEmails: ['ops@strata.example', 'oncall@strata.example'], webhookUrl: 'https://hooks.example/strata', emailEnabled: true };

type Email = Extract<Notification, { channel: 'email' }>;
type Webhook = Extract<Notification, { channel: 'webhook' }>;
const emailOf = (ns: Notification[]) => ns.filter((n): n is Email => n.channel === 'email');
const webhookOf = (ns: Notification[]) => ns.filter((n): n is Webhook => n.channel === 'webhook');

describe('notificationsFor', () => {
  test('a user failure goes to the single owner_email', () => {
    const ns = notificationsFor(userFailure, 'data@finance.example', settings);
    expect(emailOf(ns)).toHaveLength(1);
    const [email] = emailOf(ns);
    expect(email!.to).toEqual(['data@finance.example']);
    expect(email!.subject).toBe('[strata] deployment of finance/daily-sales failed: requirements_failed');
    expect(email!.text).toContain('dep-42 of finance/daily-sales failed');
    expect(email!.text).toContain("requirements_failed (the job's requirements could not be installed)");
    expect(email!.text).toContain('user error');
    expect(email!.text).toContain("You are listed in owner_email of finance/daily-sales's job.yaml");
    expect(email!.text).toContain('pandsa==9.9');
    expect(email!.text).toContain('https://strata.example/deployments/dep-42');
    expect(email!.text).toContain('abc1234');
    expect(email!.to).not.toContain('ops@strata.example');
  });

  test('a user failure goes to every owner of a list, once each', () => {
    const ns = notificationsFor(userFailure, ['a@finance.example', 'b@finance.example', 'A@Finance.example', ' b@finance.example '], settings);
    expect(emailOf(ns)[0]!.to).toEqual(['a@finance.example', 'b@finance.example']);
  });

  test('a platform failure goes to the administrators, not the owners', () => {
    const ns = notificationsFor(platformFailure, ['a@finance.example'], settings);
    const [email] = emailOf(ns);
    expect(email!.to).toEqual(['ops@strata.example', 'oncall@strata.example']);
    expect(email!.subject).toBe('[strata] deployment of finance/daily-sales failed: image_build_failed');
    expect(email!.text).toContain('platform error');
    expect(email!.text).toContain('You are an administrator');
  });

  test('the webhook receives every failure with its route and recipients', () => {
    const user = webhookOf(notificationsFor(userFailure, 'data@finance.example', settings));
    const platform = webhookOf(notificationsFor(platformFailure, 'data@finance.example', settings));
    expect(user).toHaveLength(1);
    expect(user[0]!.url).toBe('https://hooks.example/strata');
    expect(user[0]!.body).toMatchObject({
      event: 'strata.failure',
      subject: 'deployment',
      id: 'dep-42',
      team: 'finance',
      job: 'daily-sales',
      commit: 'abc1234',
      failure: userFailure.failure,
      link: userFailure.link,
      at: userFailure.at,
      route: 'owners',
      recipients: ['data@finance.example'],
      emailed: true,
    });
    expect(user[0]!.body.text).toBe('[strata] deployment of finance/daily-sales failed: requirements_failed');
    expect(platform[0]!.body).toMatchObject({ route: 'administrators', recipients: ['ops@strata.example', 'oncall@strata.example'], emailed: true });
  });

  test('no owners: nobody is emailed, the webhook still hears of it and says so', () => {
    for (const owners of [undefined, [], '', ['  ']]) {
      const ns = notificationsFor(userFailure, owners, settings);
      expect(emailOf(ns)).toEqual([]);
      const [hook] = webhookOf(ns);
      expect(hook!.body).toMatchObject({ route: 'owners', recipients: [], emailed: false });
      expect(hook!.body.note).toContain('no owner_email');
      expect(hook!.body.text).toContain('nobody was emailed');
    }
  });

  test('no owners and no webhook: nothing at all (the administrators are not a fallback)', () => {
    expect(notificationsFor(userFailure, undefined, { ...settings, webhookUrl: undefined })).toEqual([]);
  });

  test('no webhook configured: email only', () => {
    const ns = notificationsFor(platformFailure, undefined, { ...settings, webhookUrl: undefined });
    expect(ns.map((n) => n.channel)).toEqual(['email']);
  });

  test('email disabled: the webhook only, naming who would have been emailed', () => {
    const ns = notificationsFor(userFailure, 'data@finance.example', { ...settings, emailEnabled: false });
    expect(ns.map((n) => n.channel)).toEqual(['webhook']);
    expect(webhookOf(ns)[0]!.body).toMatchObject({ recipients: ['data@finance.example'], emailed: false, note: 'email is disabled: nobody was emailed' });
  });

  test('a platform failure without administrators emails nobody', () => {
    const ns = notificationsFor(platformFailure, 'data@finance.example', { ...settings, adminEmails: [] });
    expect(emailOf(ns)).toEqual([]);
    expect(webhookOf(ns)[0]!.body).toMatchObject({ route: 'administrators', recipients: [], emailed: false });
  });

  test('a build without a job names the build and team; the subject stays on one line', () => {
    const notice: FailureNotice = { subject: 'build', id: 'b-7', team: 'finance', failure: { kind: 'platform', type: 'storage_failed\r\nBcc: x@evil', message: 'disk full' }, at: userFailure.at };
    const [email] = emailOf(notificationsFor(notice, undefined, settings));
    expect(email!.subject).toBe('[strata] build of b-7 (team finance) failed: storage_failed Bcc: x@evil');
    expect(email!.subject).not.toMatch(/[\r\n]/);
  });

  test('long messages are cut to a sane size, keeping head and tail', () => {
    const message = `HEAD${'x'.repeat(50_000)}TAIL`;
    const ns = notificationsFor({ ...userFailure, failure: { ...userFailure.failure, message } }, 'a@b.example', settings);
    const [email] = emailOf(ns);
    expect(email!.text.length).toBeLessThan(MAX_MESSAGE_CHARS + 2000);
    expect(email!.text).toContain('HEAD');
    expect(email!.text).toContain('TAIL');
    expect(email!.text).toContain('characters omitted');
    const body = webhookOf(ns)[0]!.body as { failure: { message: string } };
    expect(body.failure.message.length).toBeLessThan(MAX_MESSAGE_CHARS + 100);
  });
});

describe('helpers', () => {
  test('normalizeEmails splits, trims and deduplicates', () => {
    expect(normalizeEmails('a@x.example, b@x.example;a@X.example')).toEqual(['a@x.example', 'b@x.example']);
    expect(normalizeEmails(undefined)).toEqual([]);
  });
  test('truncateMessage leaves short messages alone', () => {
    expect(truncateMessage('short')).toBe('short');
    expect(truncateMessage('abcdefghij', 4)).toBe('ab\n[... 6 characters omitted ...]\nij');
  });
});
