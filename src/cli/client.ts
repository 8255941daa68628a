/** The CLI's view of the REST API: JSON requests with the bearer token, errors as CliErrors, SSE streams. */

/** Exit codes: what a script calling `strata` can rely on. */
export const ExitCode = {
  ok: 0,
  /** The build (or other work) failed or was cancelled. */
  failed: 1,
  /** The command line or the request was wrong (a 4xx from the API). */
  usage: 2,
  /** The API could not be reached, or failed (5xx). */
  unavailable: 3,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

interface ErrorBody {
  error?: { code?: string; message?: string; details?: { issues?: { in: string; field: string; message: string }[] } };
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string | undefined,
  ) {}

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }

  /** POSTs a file as it is (a plugin ZIP). */
  async upload<T>(path: string, body: Buffer, contentType: string): Promise<T> {
    const res = await this.fetch(path, { method: 'POST', headers: { ...this.auth(), 'Content-Type': contentType }, body });
    return (await res.json()) as T;
  }

  delete(path: string): Promise<void> {
    return this.request<void>('DELETE', path);
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.fetch(path, {
      method,
      headers: { ...this.auth(), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    // 204, or a 202 without a body (POST /schedules/…/trigger)
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** The messages of a Server-Sent Events stream, until the server ends it. */
  async *stream(path: string): AsyncGenerator<{ event: string; id?: string; data: unknown }> {
    const res = await this.fetch(path, { headers: { ...this.auth(), Accept: 'text/event-stream' } });
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const fields: Record<string, string> = {};
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          fields[line.slice(0, colon)] = line.slice(colon + 1).replace(/^ /, '');
        }
        if (fields.data !== undefined) yield { event: fields.event ?? 'message', ...(fields.id ? { id: fields.id } : {}), data: JSON.parse(fields.data) };
      }
    }
  }

  private auth(): Record<string, string> {
    return this.token ? { Authorization: `Bearer ${this.token}` } : {};
  }

  private async fetch(path: string, init: RequestInit): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), init);
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      throw new CliError(
        `cannot reach the Strata API at ${this.baseUrl}${cause ? ` (${cause})` : ''}: is \`npm start\` running? (--api or STRATA_API chooses another)`,
        ExitCode.unavailable,
      );
    }
    if (res.ok) return res;
    const body = (await res.json().catch(() => ({}))) as ErrorBody;
    const message = body.error?.message ?? res.statusText;
    const hint = res.status === 401 ? ' (give a token with --token or STRATA_TOKEN)' : '';
    throw new CliError(`${message}${hint} [HTTP ${res.status} ${body.error?.code ?? ''}]`.replace(/ \]$/, ']'), res.status < 500 ? ExitCode.usage : ExitCode.unavailable);
  }
}
