// Test-only workflow: sends notifications through the real helper and reports that it finished.
import type { ActivityOptions } from '@temporalio/workflow';
import type { Notification } from '../../src/notify/recipients.js';
import { sendNotifications } from '../../workflows/notifications.js';

export async function notifyProbe(input: { notifications: Notification[]; retry?: ActivityOptions['retry'] }): Promise<string> {
  await sendNotifications(input.notifications, { retry: input.retry });
  return 'done';
}
