/**
 * The one way Strata parses YAML (job.yaml, plugin-manifest.yaml, DAG files): at most MAX_YAML_ALIASES
 * alias expansions, so an alias bomb ("billion laughs") is refused instead of filling memory, and every
 * failure (bad syntax, too many aliases, nesting too deep for the stack) is a YamlError naming the file.
 * Pure.
 */
import { parse, YAMLParseError } from 'yaml';

export const MAX_YAML_ALIASES = 100;

export class YamlError extends Error {
  constructor(
    readonly file: string,
    /** What is wrong. */
    readonly reason: string,
    readonly line?: number,
  ) {
    super(`${file}${line ? ` (line ${line})` : ''}: not valid YAML: ${reason}`);
    this.name = 'YamlError';
  }
}

/** The document's value; throws a YamlError whose message is "<file> (line N): not valid YAML: <why>". */
export function parseYamlFile(file: string, text: string): unknown {
  try {
    return parse(text, { maxAliasCount: MAX_YAML_ALIASES }) as unknown;
  } catch (err) {
    const line = err instanceof YAMLParseError && err.linePos ? err.linePos[0].line : undefined;
    const reason =
      err instanceof ReferenceError && /alias/i.test(err.message)
        ? `more than ${MAX_YAML_ALIASES} alias expansions (*name); write the values out or use fewer aliases`
        : (err as Error).message.split('\n')[0]!;
    throw new YamlError(file, reason, line);
  }
}
