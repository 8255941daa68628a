/** The Temporal SDK's log, as Strata's processes show it: warnings and errors, without known noise. */
import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';
import { inspect } from 'node:util';

/** The task-launching worker has activities only, by design; the SDK warns about that at every start. */
const EXPECTED = [/^No workflows registered, not polling for workflow tasks/];

export function installQuietLogger(): void {
  Runtime.install({
    logger: new DefaultLogger('WARN', (entry: LogEntry) => {
      if (EXPECTED.some((re) => re.test(entry.message))) return;
      const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
      const meta = entry.meta && Object.keys(entry.meta).length ? ` ${inspect(entry.meta, { depth: 4, breakLength: Infinity })}` : '';
      console.error(`${time} [${entry.level}] ${entry.message}${meta}`);
    }),
  });
}
