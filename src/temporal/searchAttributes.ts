/** Strata's search attributes: how a person finds builds and tasks in the Temporal Web UI. Pure module. */
import { defineSearchAttributeKey } from '@temporalio/common';

export const StrataBuildId = defineSearchAttributeKey('StrataBuildId', 'KEYWORD');
export const StrataTeam = defineSearchAttributeKey('StrataTeam', 'KEYWORD');
export const StrataJob = defineSearchAttributeKey('StrataJob', 'KEYWORD');
export const StrataPartitions = defineSearchAttributeKey('StrataPartitions', 'KEYWORD_LIST');
/** `<team>/<name>` of the schedule whose tick started a build. */
export const StrataSchedule = defineSearchAttributeKey('StrataSchedule', 'KEYWORD');
/** Temporal's own: the time a schedule's action was scheduled for (before jitter, whenever it ran). */
export const TemporalScheduledStartTime = defineSearchAttributeKey('TemporalScheduledStartTime', 'DATETIME');

export const searchAttributeKeys = [StrataBuildId, StrataTeam, StrataJob, StrataPartitions, StrataSchedule];

/** Temporal refuses a search attribute value whose JSON is larger than this (the server's default limit). */
export const MAX_SEARCH_ATTRIBUTE_BYTES = 2048;

/**
 * The partitions a StrataPartitions value can hold: the first ones whose JSON fits the server's limit,
 * so a build of thousands of long partitions lists the first few instead of being refused.
 */
export function partitionsForSearchAttribute(partitions: readonly string[]): string[] {
  const kept: string[] = [];
  let bytes = 2; // []
  for (const ref of partitions) {
    const size = utf8Length(JSON.stringify(ref)) + (kept.length > 0 ? 1 : 0);
    if (bytes + size > MAX_SEARCH_ATTRIBUTE_BYTES) break;
    kept.push(ref);
    bytes += size;
  }
  return kept;
}

function utf8Length(text: string): number {
  let bytes = 0;
  for (const char of text) {
    const code = char.codePointAt(0)!;
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
  }
  return bytes;
}

/** The names of the search attribute types as the Temporal CLI spells them (`--type`, `--search-attribute name=type`). */
const CLI_TYPE_NAMES = { KEYWORD: 'Keyword', KEYWORD_LIST: 'KeywordList' } as const;

/**
 * Strata's search attributes as [name, CLI type] pairs: what `temporal server start-dev` registers, and
 * what a real server needs created once (`temporal operator search-attribute create --name --type`).
 */
export const searchAttributeCliTypes = (): [string, string][] => searchAttributeKeys.map((key) => [key.name, CLI_TYPE_NAMES[key.type]]);

/** `--search-attribute` flags for `temporal server start-dev`. */
export const devServerSearchAttributeArgs = (): string[] =>
  searchAttributeCliTypes().flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]);
