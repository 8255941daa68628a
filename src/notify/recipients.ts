/**
 * Who hears about a failure, and what they read. A user failure (the job's fault) goes to the job's
 * owners (job.yaml's `owner_email`); a platform failure goes to the administrators of the configuration.
 * The webhook, when one is configured, receives every failure with the route it took.
 * Pure module: no I/O, no Node APIs; workflows import it.
 */
import { Failures, isFailureType } from '../errors.js';

export interface NotificationSettings {
  /** Who hears about platform failures. */
  adminEmails: string[];
  /** Receives every failure as JSON (HTTP POST). */
  webhookUrl?: string;
  /** false: no email at all (the webhook still gets every failure). */
  emailEnabled: boolean;
}

export interface FailureNotice {
  subject: 'deployment' | 'build';
  /** The deployment or build id. */
  id: string;
  team: string;
  job?: string;
  commit?: string;
  failure: { kind: 'user' | 'platform'; type: string; message: string };
  /** Where to read more (UI or API URL). */
  link?: string;
  /** ISO time of the failure. */
  at: string;
  /** What happened to it, when not "failed" (a schedule's tick: "is late"). */
  outcome?: string;
}

export type Notification =
  | { channel: 'email'; to: string[]; subject: string; text: string }
  | { channel: 'webhook'; url: string; body: Record<string, unknown> };

export type NotificationRoute = 'owners' | 'administrators';

/** Failure messages (pip output, stack traces) are cut to this many characters, keeping head and tail. */
export const MAX_MESSAGE_CHARS = 4000;
const MAX_SUBJECT_CHARS = 200;

/**
 * The notifications one failure produces: at most one email (to the owners or the administrators)
 * and at most one webhook call.
 */
export function notificationsFor(notice: FailureNotice, owners: string[] | string | undefined, settings: NotificationSettings): Notification[] {
  const route: NotificationRoute = notice.failure.kind === 'user' ? 'owners' : 'administrators';
  const recipients = route === 'owners' ? normalizeEmails(owners) : normalizeEmails(settings.adminEmails);
  const emailed = settings.emailEnabled && recipients.length > 0;
  const note = noteFor(notice, route, recipients, settings);
  const subject = subjectFor(notice);
  const out: Notification[] = [];
  if (emailed) out.push({ channel: 'email', to: recipients, subject, text: textFor(notice, route) });
  if (settings.webhookUrl) {
    out.push({
      channel: 'webhook',
      url: settings.webhookUrl,
      body: {
        event: 'strata.failure',
        // A one-line summary: chat webhooks (Slack, Mattermost) show `text` as is.
        text: note ? `${subject} (${note})` : subject,
        subject: notice.subject,
        id: notice.id,
        team: notice.team,
        ...(notice.job !== undefined ? { job: notice.job } : {}),
        ...(notice.commit !== undefined ? { commit: notice.commit } : {}),
        failure: { kind: notice.failure.kind, type: notice.failure.type, message: truncateMessage(notice.failure.message) },
        ...(notice.link !== undefined ? { link: notice.link } : {}),
        at: notice.at,
        route,
        recipients,
        emailed,
        ...(note ? { note } : {}),
      },
    });
  }
  return out;
}

/**
 * Addresses from `owner_email` (a string or a list) or a settings list: trimmed, split on commas and
 * semicolons, empty ones dropped, duplicates (case-insensitive) dropped keeping the first spelling.
 */
export function normalizeEmails(value: string[] | string | undefined | null): string[] {
  if (value == null) return [];
  const seen = new Set<string>();
  const out: string[] = [];
  for (const entry of [value].flat()) {
    for (const raw of String(entry).split(/[,;]/)) {
      const address = raw.trim();
      if (!address || seen.has(address.toLowerCase())) continue;
      seen.add(address.toLowerCase());
      out.push(address);
    }
  }
  return out;
}

/** `[strata] deployment of finance/daily-sales failed: requirements_failed` */
export function subjectFor(notice: FailureNotice): string {
  const subject = `[strata] ${notice.subject} of ${target(notice)} ${notice.outcome ?? 'failed'}: ${notice.failure.type}`;
  return oneLine(subject, MAX_SUBJECT_CHARS);
}

/** Keeps the first and last halves of a long message, saying how much was cut. */
export function truncateMessage(message: string, max = MAX_MESSAGE_CHARS): string {
  if (message.length <= max) return message;
  const half = Math.floor(max / 2);
  return `${message.slice(0, half)}\n[... ${message.length - 2 * half} characters omitted ...]\n${message.slice(-half)}`;
}

function target(notice: FailureNotice): string {
  return notice.job ? `${notice.team}/${notice.job}` : `${notice.id} (team ${notice.team})`;
}

function oneLine(s: string, max: number): string {
  const flat = s.replace(/[\r\n\t]+/g, ' ');
  return flat.length <= max ? flat : `${flat.slice(0, max - 3)}...`;
}

function describeType(type: string): string {
  return isFailureType(type) ? `${type} (${Failures[type].summary})` : type;
}

function noteFor(notice: FailureNotice, route: NotificationRoute, recipients: string[], settings: NotificationSettings): string | undefined {
  if (recipients.length === 0) {
    return route === 'owners'
      ? `${notice.job ? `job ${notice.team}/${notice.job}` : 'the job'} has no owner_email in its job.yaml: nobody was emailed`
      : 'no administrator emails are configured: nobody was emailed';
  }
  if (!settings.emailEnabled) return 'email is disabled: nobody was emailed';
  return undefined;
}

function textFor(notice: FailureNotice, route: NotificationRoute): string {
  const { failure } = notice;
  const jobRef = notice.job ? `${notice.team}/${notice.job}` : undefined;
  const why =
    route === 'owners'
      ? `You are listed in owner_email of ${jobRef ? `${jobRef}'s` : 'the job'} job.yaml. This is a user error: the job itself (its code, job.yaml or requirements) needs a fix; the Strata administrators were not notified.`
      : 'You are an administrator of this Strata installation. This is a platform error: the infrastructure failed, not the job, so the job owners were not notified.';
  const lines = [
    `The ${notice.subject} ${notice.id}${jobRef ? ` of ${jobRef}` : ` of team ${notice.team}`} ${notice.outcome ?? 'failed'}.`,
    '',
    `What failed: ${describeType(failure.type)}`,
    `Kind:        ${failure.kind === 'user' ? "user error (the job's fault)" : 'platform error (the infrastructure)'}`,
    `Team:        ${notice.team}`,
    ...(notice.job ? [`Job:         ${notice.job}`] : []),
    ...(notice.commit ? [`Commit:      ${notice.commit}`] : []),
    `When:        ${notice.at}`,
    ...(notice.link ? [`Details:     ${notice.link}`] : []),
    '',
    `Why you: ${why}`,
    '',
    'Message:',
    truncateMessage(failure.message),
    '',
    '-- ',
    'Sent by Strata.',
  ];
  return lines.join('\n');
}
