/**
 * Failure notifications' side effects: an email over SMTP (nodemailer) and a webhook (HTTP POST of JSON).
 * Transient failures are thrown retryable, so Temporal retries them with the caller's policy; failures
 * that would repeat (every recipient refused for good, a 4xx from the webhook, no SMTP configured) are
 * non-retryable. All of them are ApplicationFailures of type `notification_failed`.
 */
import type { NodemailerError, SMTPSentMessageInfo, Transporter } from 'nodemailer';
import { ApplicationFailure } from '@temporalio/common';

export interface NotificationActivityDeps {
  /** e.g. `{ url: 'smtp://127.0.0.1:2525', from: 'strata@example.com' }` (STRATA_SMTP_URL); absent: email is off. */
  smtp?: { url: string; from: string };
  /** The webhook's timeout (default 10 s). */
  fetchTimeoutMs?: number;
}

export interface EmailInput {
  to: string[];
  subject: string;
  text: string;
}

export interface WebhookInput {
  url: string;
  body: Record<string, unknown>;
}

const TYPE = 'notification_failed';
/** Longest wait a webhook's Retry-After may ask for; beyond it the retry policy decides. */
const MAX_RETRY_AFTER_SECONDS = 300;

export function createNotificationActivities(deps: NotificationActivityDeps) {
  let transport: Transporter<SMTPSentMessageInfo> | undefined;
  const fetchTimeoutMs = deps.fetchTimeoutMs ?? 10_000;

  async function smtpTransport(smtp: { url: string }): Promise<Transporter<SMTPSentMessageInfo>> {
    // nodemailer is loaded on the first email, so a worker that never mails does not carry it.
    const { default: nodemailer } = await import('nodemailer');
    // Short connection timeouts: an activity attempt has a minute, and a retry is better than a hang.
    transport ??= nodemailer.createTransport({ url: smtp.url, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 });
    return transport;
  }

  return {
    /** Sends one plain-text email. Resolves with the recipients the server accepted (some may be refused). */
    async sendEmail(n: EmailInput): Promise<{ messageId: string; accepted: string[]; rejected: string[] }> {
      if (!deps.smtp) {
        throw ApplicationFailure.nonRetryable(
          `cannot email ${n.to.join(', ')}: no SMTP server is configured (set STRATA_SMTP_URL, e.g. smtp://mail.example.com:587)`,
          TYPE,
        );
      }
      if (n.to.length === 0) throw ApplicationFailure.nonRetryable('cannot send an email without recipients', TYPE);
      let info: SMTPSentMessageInfo;
      try {
        info = await (await smtpTransport(deps.smtp)).sendMail({ from: deps.smtp.from, to: n.to, subject: n.subject, text: n.text });
      } catch (err) {
        throw emailFailure(err as NodemailerError, deps.smtp.url, n.to);
      }
      return { messageId: info.messageId, accepted: info.accepted.map(String), rejected: info.rejected.map(String) };
    },

    /** POSTs the body as JSON. 2xx: done; 4xx (but 408 and 429): refused for good; else retried. */
    async postWebhook(n: WebhookInput): Promise<{ status: number }> {
      const shown = redactUrl(n.url);
      let url: URL;
      try {
        url = new URL(n.url);
      } catch {
        throw ApplicationFailure.nonRetryable(`webhook ${shown}: not a valid URL`, TYPE);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw ApplicationFailure.nonRetryable(`webhook ${shown}: only http and https URLs are supported`, TYPE);
      }
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'strata' },
          body: JSON.stringify(n.body),
          signal: AbortSignal.timeout(fetchTimeoutMs),
        });
      } catch (err) {
        const why = (err as Error).name === 'TimeoutError' ? `no response within ${fetchTimeoutMs} ms` : describeNetworkError(err);
        throw ApplicationFailure.retryable(`webhook ${shown} failed: ${why}`, TYPE, { url: shown });
      }
      const snippet = await bodySnippet(res);
      if (res.ok) return { status: res.status };
      const message = `webhook ${shown} answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${snippet ? `: ${snippet}` : ''}`;
      const details = { url: shown, status: res.status };
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
        throw ApplicationFailure.nonRetryable(message, TYPE, details);
      }
      const retryAfter = retryAfterSeconds(res.headers.get('retry-after'));
      throw ApplicationFailure.create({
        message,
        type: TYPE,
        nonRetryable: false,
        details: [details],
        ...(retryAfter !== undefined ? { nextRetryDelay: `${retryAfter}s` } : {}),
      });
    },
  };
}

/** Refused for good: every recipient (or the sender, or the message) got a permanent 5xx reply. */
function emailFailure(err: NodemailerError, smtpUrl: string, to: string[]): ApplicationFailure {
  const server = redactUrl(smtpUrl);
  const details = {
    server,
    to,
    ...(err.code ? { code: err.code } : {}),
    ...(err.responseCode ? { responseCode: err.responseCode } : {}),
    ...(err.rejected ? { rejected: err.rejected } : {}),
  };
  const message = `email to ${to.join(', ')} via ${server} failed: ${err.message}`;
  if (isPermanentRejection(err)) return ApplicationFailure.nonRetryable(message, TYPE, details);
  return ApplicationFailure.retryable(message, TYPE, details);
}

function isPermanentRejection(err: NodemailerError): boolean {
  if (err.code !== 'EENVELOPE' && err.code !== 'EMESSAGE') return false;
  const permanent = (e: NodemailerError) => e.permanent ?? (e.responseCode !== undefined && e.responseCode >= 500 && e.responseCode !== 503);
  // All recipients refused: the error carries each refusal; one temporary (4xx) refusal makes it worth a retry.
  if (err.rejectedErrors?.length) return err.rejectedErrors.every(permanent);
  return permanent(err);
}

function describeNetworkError(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message;
}

/** At most 500 characters of the response, on one line (also frees the connection). */
async function bodySnippet(res: Response): Promise<string> {
  try {
    const text = (await res.text()).replace(/\s+/g, ' ').trim();
    return text.length > 500 ? `${text.slice(0, 500)}...` : text;
  } catch {
    return '';
  }
}

function retryAfterSeconds(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = /^\d+$/.test(header.trim()) ? Number(header.trim()) : (Date.parse(header) - Date.now()) / 1000;
  if (!Number.isFinite(seconds)) return undefined;
  return Math.min(Math.max(Math.ceil(seconds), 1), MAX_RETRY_AFTER_SECONDS);
}

/** The URL without its password, fit for error messages and history. */
function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return raw.length > 200 ? `${raw.slice(0, 200)}...` : raw;
  }
}
