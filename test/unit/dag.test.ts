import { findCycle, parseDagRequest, type DagProblem } from '../../src/engine/dag.js';

const job = (name: string, dependsOn: string[] = [], extra: Record<string, unknown> = {}) => ({ job_name: name, depends_on: dependsOn, ...extra });
const kinds = (problems: DagProblem[]) => problems.map((p) => [p.kind, p.jobs, p.key]);

describe('a DAG run request', () => {
  test('the seed example parses with the defaults', () => {
    const { request, problems } = parseDagRequest({
      team: 'awesome',
      jobs: [job('job1'), job('job2', ['job1']), job('job3', ['job1'], { fail_meta_job_on_error: false }), job('job4', ['job1'], { team_name: 'other', arguments: { a: 1 } })],
    });
    expect(problems).toEqual([]);
    expect(request).toEqual({
      team: 'awesome',
      maxConcurrent: 15,
      jobs: [
        { job: 'job1', team: 'awesome', failDagOnError: true, arguments: {}, dependsOn: [] },
        { job: 'job2', team: 'awesome', failDagOnError: true, arguments: {}, dependsOn: ['job1'] },
        { job: 'job3', team: 'awesome', failDagOnError: false, arguments: {}, dependsOn: ['job1'] },
        { job: 'job4', team: 'other', failDagOnError: true, arguments: { a: 1 }, dependsOn: ['job1'] },
      ],
    });
  });

  test('a bare jobs list takes the team from the caller', () => {
    expect(parseDagRequest([job('a')], { team: 'mine' }).request?.team).toBe('mine');
  });

  test.each([
    ['the same job twice', [job('a'), job('a')], [['duplicate_job', ['a'], undefined]]],
    ['the same job twice with different fields', [job('a'), job('a', [], { fail_dag_on_error: false })], [['duplicate_job', ['a'], undefined]]],
    ['an unknown key', [job('a', [], { retries: 3 })], [['unknown_key', ['a'], 'retries']]],
    ['no job_name', [{ depends_on: [] }], [['missing_key', ['jobs[0]'], 'job_name']]],
    ['no depends_on', [{ job_name: 'a' }], [['missing_key', ['a'], 'depends_on']]],
    ['job_name not a string', [{ job_name: 7, depends_on: [] }], [['wrong_type', ['jobs[0]'], 'job_name']]],
    ['depends_on not a list', [job('a'), { job_name: 'b', depends_on: 'a' }], [['wrong_type', ['b'], 'depends_on']]],
    ['depends_on with a number', [job('a', [1 as unknown as string])], [['wrong_type', ['a'], 'depends_on']]],
    ['team_name not a string', [job('a', [], { team_name: 5 })], [['wrong_type', ['a'], 'team_name']]],
    ['fail_dag_on_error 1', [job('a', [], { fail_dag_on_error: 1 })], [['wrong_type', ['a'], 'fail_dag_on_error']]],
    ['fail_meta_job_on_error "true"', [job('a', [], { fail_meta_job_on_error: 'true' })], [['wrong_type', ['a'], 'fail_meta_job_on_error']]],
    ['arguments a list', [job('a', [], { arguments: [1] })], [['wrong_type', ['a'], 'arguments']]],
    ['arguments null', [job('a', [], { arguments: null })], [['wrong_type', ['a'], 'arguments']]],
    ['a cycle', [job('a', ['c']), job('b', ['a']), job('c', ['b'])], [['cycle', ['a', 'c', 'b', 'a'], undefined]]],
    ['a self-dependency', [job('a', ['a'])], [['cycle', ['a', 'a'], undefined]]],
    ['an unknown dependency', [job('a', ['ghost'])], [['unknown_dependency', ['a', 'ghost'], undefined]]],
  ])('%s is refused, naming the jobs and the kind', (_what, jobs, expected) => {
    const { request, problems } = parseDagRequest({ team: 't', jobs });
    expect(request).toBeUndefined();
    expect(kinds(problems)).toEqual(expected);
    for (const p of problems) expect(p.message.length).toBeGreaterThan(10);
  });

  test.each([
    ['unknown run key', { team: 't', jobs: [job('a')], colour: 'red' }, [['unknown_key', [], 'colour']]],
    ['no jobs', { team: 't' }, [['missing_key', [], 'jobs']]],
    ['max_concurrent 0', { team: 't', max_concurrent: 0, jobs: [job('a')] }, [['wrong_type', [], 'max_concurrent']]],
    ['no team', { jobs: [job('a')] }, [['missing_key', [], 'team']]],
  ])('%s is refused', (_what, body, expected) => {
    expect(kinds(parseDagRequest(body).problems)).toEqual(expected);
  });

  test('every problem is reported at once', () => {
    const { problems } = parseDagRequest({ team: 't', jobs: [job('a', ['b']), job('b', ['a'], { extra: 1 }), job('c', ['zzz'])] });
    expect(problems.map((p) => p.kind).sort()).toEqual(['cycle', 'unknown_dependency', 'unknown_key']);
  });

  test('findCycle ignores edges to unknown jobs', () => {
    expect(findCycle([{ job: 'a', dependsOn: ['x'] }])).toBeUndefined();
  });
});
