/** Strata's search attributes: how a person finds builds and tasks in the Temporal Web UI. Pure module. */
import { defineSearchAttributeKey } from '@temporalio/common';

export const StrataBuildId = defineSearchAttributeKey('StrataBuildId', 'KEYWORD');
export const StrataTeam = defineSearchAttributeKey('StrataTeam', 'KEYWORD');
export const StrataJob = defineSearchAttributeKey('StrataJob', 'KEYWORD');
export const StrataPartitions = defineSearchAttributeKey('StrataPartitions', 'KEYWORD_LIST');

export const searchAttributeKeys = [StrataBuildId, StrataTeam, StrataJob, StrataPartitions];

/** A keyword list is bounded in size; a build of thousands of partitions lists the first ones. */
export const MAX_PARTITIONS_IN_SEARCH_ATTRIBUTE = 100;

/** `--search-attribute` flags for `temporal server start-dev`. */
export const devServerSearchAttributeArgs = (): string[] =>
  [
    ['StrataBuildId', 'Keyword'],
    ['StrataTeam', 'Keyword'],
    ['StrataJob', 'Keyword'],
    ['StrataPartitions', 'KeywordList'],
  ].flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]);
