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

/** `--search-attribute` flags for `temporal server start-dev`. */
export const devServerSearchAttributeArgs = (): string[] =>
  [
    ['StrataBuildId', 'Keyword'],
    ['StrataTeam', 'Keyword'],
    ['StrataJob', 'Keyword'],
    ['StrataPartitions', 'KeywordList'],
    ['StrataSchedule', 'Keyword'],
  ].flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]);
