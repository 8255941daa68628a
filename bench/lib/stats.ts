/** Small statistics and the number formats the tables use. */

/** The p-th percentile by nearest rank (p in 0..100): a value that was actually measured. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new Error('percentile of no values');
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export const median = (values: readonly number[]) => percentile(values, 50);

export const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
export const millis = (ms: number) => `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
/** Milliseconds below a second, seconds above. */
export const duration = (ms: number) => (ms < 1000 ? millis(ms) : seconds(ms));
export const ratio = (x: number) => `${x.toFixed(2)}×`;
/** Decimal megabytes, the unit of the targets. */
export const megabytes = (bytes: number) => `${Math.round(bytes / 1e6)} MB`;
export const count = (n: number) => n.toLocaleString('en-US');
