/**
 * Failure notifications against real servers on loopback: an SMTP server (smtp-server) receives the email,
 * a node:http server the webhook; then a workflow on a real Temporal dev server sends both and completes
 * although the email cannot be delivered.
 */
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createNotificationActivities } from '../activities/notifications.js';
import { notificationsFor, type FailureNotice, type Notification } from '../src/notify/recipients.js';
import { parseMail, startSmtp } from './helpers/smtp.js';
import { startTemporal } from './helpers/stack.js';

interface Hit {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}

let web: http.Server;
let webUrl: string;
const hits: Hit[] = [];

beforeAll(async () => {
  web = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      hits.push({ path: req.url ?? '', headers: req.headers, body: text ? JSON.parse(text) : undefined });
      if (req.url === '/hang') return; // never answers
      const status = Number(/^\/status\/(\d+)/.exec(req.url ?? '')?.[1] ?? 200);
      res.writeHead(status, status === 429 ? { 'retry-after': '7' } : {});
      res.end(status >= 400 ? `nope ${status}` : 'ok');
    });
  });
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
  webUrl = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
});

afterAll(async () => {
  web.closeAllConnections();
  await new Promise((resolve) => web.close(resolve));
});

const notice: FailureNotice = {
  subject: 'deployment',
  id: 'dep-1',
  team: 'finance',
  job: 'daily-sales',
  commit: 'abc1234',
  failure: { kind: 'user', type: 'requirements_failed', message: 'Could not find a version that satisfies the requirement pandsa==9.9' },
  link: 'https://strata.example/deployments/dep-1',
  at: '2025-01-02T03:04:05.000Z',
};

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

describe('sendEmail', () => {
  test('delivers the routed email to a real SMTP server', async () => {
    const smtp = await startSmtp();
    try {
      const [email] = notificationsFor(notice, ['data@finance.example', 'lead@finance.example'], { adminEmails: [], emailEnabled: true });
      if (email?.channel !== 'email') throw new Error('expected an email');
      const { sendEmail } = createNotificationActivities({ smtp: { url: smtp.url, from: 'strata@strata.example' } });
      const result = await sendEmail(email);
      expect(result.accepted).toEqual(['data@finance.example', 'lead@finance.example']);
      expect(result.messageId).toMatch(/^<.+>$/);
      expect(smtp.received).toHaveLength(1);
      const [got] = smtp.received;
      expect(got!.from).toBe('strata@strata.example');
      expect(got!.to).toEqual(['data@finance.example', 'lead@finance.example']);
      const { subject, text } = parseMail(got!.raw);
      expect(subject).toBe('[strata] deployment of finance/daily-sales failed: requirements_failed');
      expect(text).toContain('The deployment dep-1 of finance/daily-sales failed.');
      expect(text).toContain("You are listed in owner_email of finance/daily-sales's job.yaml");
      expect(text).toContain('pandsa==9.9');
      expect(text).toContain('https://strata.example/deployments/dep-1');
    } finally {
      await smtp.close();
    }
  });

  test('every recipient refused with 550: non-retryable notification_failed', async () => {
    const smtp = await startSmtp({
      onRcptTo(address, _session, callback) {
        callback(Object.assign(new Error(`no mailbox ${address.address}`), { responseCode: 550 }));
      },
    });
    try {
      const { sendEmail } = createNotificationActivities({ smtp: { url: smtp.url, from: 'strata@strata.example' } });
      const err = await failureOf(sendEmail({ to: ['ghost@finance.example', 'gone@finance.example'], subject: 's', text: 't' }));
      expect(err.type).toBe('notification_failed');
      expect(err.nonRetryable).toBe(true);
      expect(err.message).toContain('550');
      expect(err.message).toContain('ghost@finance.example');
      expect(smtp.received).toHaveLength(0);
    } finally {
      await smtp.close();
    }
  });

  test('some recipients refused: sent to the others, the refused ones reported', async () => {
    const smtp = await startSmtp({
      onRcptTo(address, _session, callback) {
        callback(address.address.startsWith('ghost') ? Object.assign(new Error('no mailbox'), { responseCode: 550 }) : undefined);
      },
    });
    try {
      const { sendEmail } = createNotificationActivities({ smtp: { url: smtp.url, from: 'strata@strata.example' } });
      const result = await sendEmail({ to: ['ghost@finance.example', 'data@finance.example'], subject: 's', text: 't' });
      expect(result).toMatchObject({ accepted: ['data@finance.example'], rejected: ['ghost@finance.example'] });
      expect(smtp.received.map((m) => m.to)).toEqual([['data@finance.example']]);
    } finally {
      await smtp.close();
    }
  });

  test('a temporary refusal (450) is retryable', async () => {
    const smtp = await startSmtp({
      onRcptTo(_address, _session, callback) {
        callback(Object.assign(new Error('mailbox busy'), { responseCode: 450 }));
      },
    });
    try {
      const { sendEmail } = createNotificationActivities({ smtp: { url: smtp.url, from: 'strata@strata.example' } });
      const err = await failureOf(sendEmail({ to: ['data@finance.example'], subject: 's', text: 't' }));
      expect(err.type).toBe('notification_failed');
      expect(err.nonRetryable).toBe(false);
    } finally {
      await smtp.close();
    }
  });

  test('nothing listening: retryable', async () => {
    const { sendEmail } = createNotificationActivities({ smtp: { url: `smtp://127.0.0.1:${await deadPort()}`, from: 'strata@strata.example' } });
    const err = await failureOf(sendEmail({ to: ['data@finance.example'], subject: 's', text: 't' }));
    expect(err.type).toBe('notification_failed');
    expect(err.nonRetryable).toBe(false);
  });

  test('no SMTP configured: non-retryable, naming STRATA_SMTP_URL', async () => {
    const { sendEmail } = createNotificationActivities({});
    const err = await failureOf(sendEmail({ to: ['data@finance.example'], subject: 's', text: 't' }));
    expect(err.type).toBe('notification_failed');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain('STRATA_SMTP_URL');
  });
});

describe('postWebhook', () => {
  const body = { event: 'strata.failure', id: 'dep-1', route: 'owners' };

  test('POSTs the JSON body with its content type and user agent', async () => {
    const { postWebhook } = createNotificationActivities({});
    const before = hits.length;
    expect(await postWebhook({ url: `${webUrl}/hook`, body })).toEqual({ status: 200 });
    const hit = hits[before]!;
    expect(hit.path).toBe('/hook');
    expect(hit.headers['content-type']).toBe('application/json');
    expect(hit.headers['user-agent']).toBe('strata');
    expect(hit.body).toEqual(body);
  });

  test('500 is retryable and names the URL and status', async () => {
    const { postWebhook } = createNotificationActivities({});
    const err = await failureOf(postWebhook({ url: `${webUrl}/status/500`, body }));
    expect(err).toMatchObject({ type: 'notification_failed', nonRetryable: false });
    expect(err.message).toContain(`${webUrl}/status/500`);
    expect(err.message).toContain('HTTP 500');
  });

  test('400 is not retryable', async () => {
    const { postWebhook } = createNotificationActivities({});
    const err = await failureOf(postWebhook({ url: `${webUrl}/status/400`, body }));
    expect(err).toMatchObject({ type: 'notification_failed', nonRetryable: true });
    expect(err.message).toContain('HTTP 400');
    expect(err.message).toContain('nope 400');
  });

  test('429 is retryable, after the Retry-After delay', async () => {
    const { postWebhook } = createNotificationActivities({});
    const err = await failureOf(postWebhook({ url: `${webUrl}/status/429`, body }));
    expect(err).toMatchObject({ type: 'notification_failed', nonRetryable: false, nextRetryDelay: '7s' });
  });

  test('no answer within the timeout is retryable', async () => {
    const { postWebhook } = createNotificationActivities({ fetchTimeoutMs: 300 });
    const err = await failureOf(postWebhook({ url: `${webUrl}/hang`, body }));
    expect(err).toMatchObject({ type: 'notification_failed', nonRetryable: false });
    expect(err.message).toContain('no response within 300 ms');
  });

  test('connection refused is retryable', async () => {
    const { postWebhook } = createNotificationActivities({});
    const err = await failureOf(postWebhook({ url: `http://127.0.0.1:${await deadPort()}/hook`, body }));
    expect(err).toMatchObject({ type: 'notification_failed', nonRetryable: false });
  });
});

/** A loopback port nothing listens on (it was free a moment ago). */
async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('in a workflow', () => {
  let env: TestWorkflowEnvironment | undefined;
  afterAll(async () => {
    await env?.teardown();
  });

  test('a notification that cannot be delivered does not fail the workflow', async () => {
    env = await startTemporal();
    const taskQueue = `notify-${process.pid}-${Date.now()}`;
    const activities = createNotificationActivities({ smtp: { url: `smtp://127.0.0.1:${await deadPort()}`, from: 'strata@strata.example' } });
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: fileURLToPath(new URL('./workflows/notifyProbe.ts', import.meta.url)),
      activities,
    });
    const notifications: Notification[] = [
      { channel: 'email', to: ['data@finance.example'], subject: 'unreachable', text: 'nobody listens' },
      { channel: 'webhook', url: `${webUrl}/probe`, body: { event: 'strata.failure', id: 'probe' } },
    ];
    const workflowId = `notify-probe-${Date.now()}`;
    // The SDK's warnings (the failed activity, the workflow's log) go to console.error: keep them.
    const logged: string[] = [];
    const consoleError = console.error;
    console.error = (...args: unknown[]) => void logged.push(args.map(String).join(' '));
    let result: string;
    try {
      result = await worker.runUntil(
        env.client.workflow.execute('notifyProbe', {
          taskQueue,
          workflowId,
          args: [{ notifications, retry: { initialInterval: '100ms', backoffCoefficient: 1, maximumAttempts: 2 } }],
        }),
      );
    } finally {
      console.error = consoleError;
    }
    expect(result).toBe('done');
    expect(logged.filter((l) => l.includes('failure notification by email to data@finance.example not delivered'))).toHaveLength(1);
    expect(hits.filter((h) => h.path === '/probe').map((h) => h.body)).toEqual([{ event: 'strata.failure', id: 'probe' }]);

    // The email activity really failed, after its two attempts.
    const events = (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    const scheduled = new Map(events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes!.activityType?.name]));
    const failed = events
      .map((e) => e.activityTaskFailedEventAttributes)
      .filter((a): a is NonNullable<typeof a> => !!a)
      .map((a) => ({ activity: scheduled.get(String(a.scheduledEventId)), type: a.failure?.applicationFailureInfo?.type, message: a.failure?.message }));
    expect(failed).toEqual([{ activity: 'sendEmail', type: 'notification_failed', message: expect.stringContaining('data@finance.example') }]);
    const completed = events.filter((e) => e.activityTaskCompletedEventAttributes).map((e) => scheduled.get(String(e.activityTaskCompletedEventAttributes!.scheduledEventId)));
    expect(completed).toEqual(['postWebhook']);
    const lastAttempt = events.find((e) => e.activityTaskStartedEventAttributes && scheduled.get(String(e.activityTaskStartedEventAttributes.scheduledEventId)) === 'sendEmail');
    expect(lastAttempt?.activityTaskStartedEventAttributes?.attempt).toBe(2);
  });
});
