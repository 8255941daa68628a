/**
 * A job name and an output pattern belong to one team. The jobs builds run (JobLoader.load) leave out
 * a job that collides with another team's; a deployment that would collide is refused (the API by name,
 * the deploy pipeline's validate and record steps by name and outputs).
 */
import path from 'node:path';
import { StrataError } from '../errors.js';
import { describeConflicts, ownershipConflicts, type OwnedJob, type OwnershipConflict } from '../engine/overlap.js';
import type { PartitionPattern } from '../engine/partitions.js';
import type { JobDefinition } from '../engine/jobManifest.js';

/** Where a job comes from, as a problem names it. */
const whereIs = (job: JobDefinition) =>
  job.deployment ? `deployment ${job.deployment.id} of ${job.team}/${job.name}` : path.join(job.dir, 'job.yaml');

/**
 * The jobs builds run, each name and output one team's. Development-folder jobs come first, in folder
 * order: a deployment of another team never replaces one (a deployment of its own team does); then
 * deployments, in the order given. A job colliding with one already taken by another team is left out,
 * with a problem naming both.
 */
export function resolveOwnership(folder: Map<string, JobDefinition>, deployed: JobDefinition[]): { jobs: Map<string, JobDefinition>; problems: string[] } {
  const redeployed = new Set(deployed.map((j) => `${j.team}/${j.name}`));
  const candidates = [...[...folder.values()].filter((j) => !redeployed.has(`${j.team}/${j.name}`)), ...deployed];
  const jobs = new Map<string, JobDefinition>();
  const index = new OutputIndex();
  const problems: string[] = [];
  for (const job of candidates) {
    const conflicts = ownershipConflicts(job, [...(jobs.has(job.name) ? [jobs.get(job.name)!] : []), ...index.near(job)]);
    if (conflicts.length === 0) {
      jobs.set(job.name, job);
      index.add(job);
    } else {
      const others = conflicts.map((c) => whereIs(jobs.get(c.job)!)).join(', ');
      problems.push(`${whereIs(job)}: left out, team ${job.team}'s job "${job.name}" collides with ${others}: ${describeConflicts(conflicts)}`);
    }
  }
  return { jobs, problems };
}

/** Jobs by the depth and first segment of their outputs: a job is compared only with those whose outputs could meet its own. */
class OutputIndex {
  /** depth → first literal segment (or "" for a variable) → jobs. */
  private readonly byDepth = new Map<number, Map<string, Set<JobDefinition>>>();
  private static firstOf = (pattern: PartitionPattern) => (pattern.segments[0]!.kind === 'literal' ? pattern.segments[0]!.text : '');

  add(job: JobDefinition): void {
    for (const pattern of job.outputs) {
      const byFirst = this.byDepth.get(pattern.segments.length) ?? new Map<string, Set<JobDefinition>>();
      this.byDepth.set(pattern.segments.length, byFirst);
      const first = OutputIndex.firstOf(pattern);
      byFirst.set(first, (byFirst.get(first) ?? new Set()).add(job));
    }
  }

  /** The jobs with an output as deep as one of `job`'s whose first segments can meet. */
  near(job: JobDefinition): Set<JobDefinition> {
    const found = new Set<JobDefinition>();
    for (const pattern of job.outputs) {
      const byFirst = this.byDepth.get(pattern.segments.length);
      if (!byFirst) continue;
      const first = OutputIndex.firstOf(pattern);
      const sets = first === '' ? [...byFirst.values()] : [byFirst.get(first), byFirst.get('')];
      for (const set of sets) for (const j of set ?? []) found.add(j);
    }
    return found;
  }
}

/**
 * Refuses (409) `job` of `job.team` when it collides with a job of another team among `jobs`: its name
 * is theirs (job_owned_by_other_team), or its outputs can produce their partitions (outputs_overlap).
 * details.conflicts names each other job, its team and the overlapping pattern pairs.
 */
export function checkOwnership(job: OwnedJob, jobs: Iterable<OwnedJob>, what = `team ${job.team}'s job "${job.name}"`): void {
  const conflicts: OwnershipConflict[] = ownershipConflicts(job, jobs);
  if (conflicts.length === 0) return;
  const type = conflicts.some((c) => c.sameName) ? 'job_owned_by_other_team' : 'outputs_overlap';
  throw new StrataError(type, `${what} is refused: ${describeConflicts(conflicts)}`, { team: job.team, job: job.name, conflicts });
}
