/**
 * A job run's `arguments` (a DAG's jobs, runs started by hand): the limits the API checks before
 * anything is stored, and what the arguments become for the job's process (its argv and environment).
 * Linux refuses to start a process (E2BIG) when one argv or environment string is 128 KiB or more
 * (MAX_ARG_STRLEN) or all of them together pass ARG_MAX (2 MiB with the default 8 MiB stack); the
 * arguments may use a quarter of that, so the platform's own variables always fit beside them.
 * Pure.
 */
import { substitute } from './partitions.js';

/** How deeply `arguments` may nest (an object or list in an object counts one level each). */
export const MAX_ARGUMENT_DEPTH = 32;
/** The largest `arguments` as JSON (it reaches the job whole, as STRATA_ARGUMENTS). */
export const MAX_ARGUMENTS_BYTES = 64 * 1024;
/** Linux's MAX_ARG_STRLEN: one argv or `NAME=value` string, with its terminating NUL. */
export const MAX_ARG_STRING_BYTES = 128 * 1024;
/** What argv and the arguments' variables may take of ARG_MAX together (pointers included). */
export const MAX_COMMAND_BYTES = 512 * 1024;

/** How deeply a JSON value nests (a scalar is 0), without recursion, so any depth is measured safely. */
export function jsonDepth(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    deepest = Math.max(deepest, depth + 1);
    if (deepest > MAX_ARGUMENT_DEPTH) return deepest;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/** What is wrong with `arguments` (too deep, too large), or undefined. */
export function argumentsProblem(args: Record<string, unknown>): string | undefined {
  if (jsonDepth(args) > MAX_ARGUMENT_DEPTH) return `nests deeper than ${MAX_ARGUMENT_DEPTH} levels`;
  const bytes = Buffer.byteLength(JSON.stringify(args));
  if (bytes > MAX_ARGUMENTS_BYTES) return `is ${bytes} bytes of JSON; at most ${MAX_ARGUMENTS_BYTES} are allowed`;
  return undefined;
}

/** The arguments that are a string, number or boolean, as strings: what `{name}` in exec stands for. */
export function argumentBindings(args: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(args).flatMap(([k, v]) => (['string', 'number', 'boolean'].includes(typeof v) ? [[k, String(v)]] : [])));
}

/** `STRATA_ARGUMENTS` (JSON), and `STRATA_ARG_<NAME>` for each argument that is a string, number or boolean. */
export function argumentEnv(args: Record<string, unknown>): Record<string, string> {
  const env: Record<string, string> = { STRATA_ARGUMENTS: JSON.stringify(args) };
  for (const [key, value] of Object.entries(argumentBindings(args))) env[`STRATA_ARG_${key.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`] = value;
  return env;
}

/** The job's exec with `{name}` replaced from the arguments. */
export function runArgv(exec: string[], args: Record<string, unknown>): string[] {
  const bindings = argumentBindings(args);
  return exec.map((arg) => substitute(arg, bindings));
}

/** Why the OS would refuse to start a process with this argv and these variables (E2BIG), or undefined. */
export function commandSizeProblem(argv: string[], env: Record<string, string>): string | undefined {
  const strings = [...argv.map((a, i) => ({ what: `exec argument ${i}`, text: a })), ...Object.entries(env).map(([k, v]) => ({ what: k, text: `${k}=${v}` }))];
  let total = 0;
  for (const { what, text } of strings) {
    const bytes = Buffer.byteLength(text) + 1;
    if (bytes > MAX_ARG_STRING_BYTES) return `${what} would be ${bytes} bytes; the OS takes at most ${MAX_ARG_STRING_BYTES} per argument or variable`;
    total += bytes + 8;
  }
  if (total > MAX_COMMAND_BYTES) return `the command and its argument variables would be ${total} bytes; at most ${MAX_COMMAND_BYTES} are allowed (the OS limit is ${2 * 1024 * 1024} for everything)`;
  return undefined;
}
