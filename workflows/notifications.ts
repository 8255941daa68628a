/**
 * Sending failure notifications from workflow code. Not a workflow: a helper that deployment and build
 * workflows call with what `notificationsFor` (src/notify/recipients.ts) returns. Each notification is its own
 * activity with its own retries; a notification that fails for good is logged, never thrown, so it
 * cannot fail the caller. The worker of the caller's task queue must register
 * `createNotificationActivities(...)`.
 */
import { isCancellation, log, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { createNotificationActivities } from '../activities/notifications.js';
import type { Notification } from '../src/notify/recipients.js';

type NotificationActivities = ReturnType<typeof createNotificationActivities>;

const DEFAULT_RETRY: NonNullable<ActivityOptions['retry']> = {
  initialInterval: '5s',
  backoffCoefficient: 2,
  maximumInterval: '5 minutes',
  maximumAttempts: 8,
};

export interface SendNotificationsOptions {
  /** Replaces the default policy (8 attempts, 5 s doubling to 5 minutes); tests make it short. */
  retry?: ActivityOptions['retry'];
}

/**
 * Sends every notification concurrently and resolves once each was delivered or given up on. Failures
 * are logged; only the caller's own cancellation propagates (after every notification settled).
 */
export async function sendNotifications(notifications: Notification[], options: SendNotificationsOptions = {}): Promise<void> {
  if (notifications.length === 0) return;
  const { sendEmail, postWebhook } = proxyActivities<NotificationActivities>({
    startToCloseTimeout: '1 minute',
    retry: options.retry ?? DEFAULT_RETRY,
  });
  let cancelled: unknown;
  await Promise.all(
    notifications.map(async (n) => {
      try {
        if (n.channel === 'email') await sendEmail({ to: n.to, subject: n.subject, text: n.text });
        else await postWebhook({ url: n.url, body: n.body });
      } catch (err) {
        if (isCancellation(err)) {
          cancelled ??= err;
          return;
        }
        const cause = (err as { cause?: { message?: string; type?: string } }).cause;
        log.warn(`failure notification by ${n.channel} to ${n.channel === 'email' ? n.to.join(', ') : n.url} not delivered`, {
          channel: n.channel,
          ...(n.channel === 'email' ? { to: n.to, subject: n.subject } : { url: n.url }),
          error: cause?.message ?? (err as Error).message,
          ...(cause?.type ? { type: cause.type } : {}),
        });
      }
    }),
  );
  if (cancelled !== undefined) throw cancelled;
}
