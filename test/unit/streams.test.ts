/** Which stream of the event log an event, and a launched command's events, belong to: a build's or a run's. */
import { streamOfLaunch, type PreparedJobRun, type PreparedTask } from '../../activities/tasks.js';
import { streamIdsOf, type NewEvent } from '../../src/engine/records.js';

const payload = { attempt: 1, launcher: 'process', logPath: '', pid: 0, worker: '' };

test('an event is its build’s or its run’s, and one naming both or neither is refused', () => {
  expect(streamIdsOf({ buildId: 'b1', type: 'task_launch_success', payload })).toEqual({ buildId: 'b1', runId: null });
  expect(streamIdsOf({ runId: 'dag-1', type: 'task_launch_success', payload })).toEqual({ buildId: null, runId: 'dag-1' });
  // As the log reads events back: the other id empty.
  expect(streamIdsOf({ buildId: '', runId: 'run-1', type: 'task_launch_success', payload } as NewEvent)).toEqual({ buildId: null, runId: 'run-1' });
  expect(() => streamIdsOf({ buildId: 'b1', runId: 'dag-1', type: 'task_launch_success', payload } as NewEvent)).toThrow('must name its build or its run, not both or neither');
  expect(() => streamIdsOf({ buildId: '', type: 'task_launch_success', payload })).toThrow('must name its build or its run');
});

test("a launch's stream: a partition task's build, a job run's run, and a job run prepared before runs had their own stream", () => {
  const command = { taskId: 't', job: 'j', team: 'a', cwd: '/', argv: ['true'], env: {}, config: { outputs: [], inputs: [], args: [], env: {} }, retries: 0 };
  expect(streamOfLaunch({ ...command, buildId: '20261201-230000-abcdef' } as PreparedTask)).toEqual({ ids: { buildId: '20261201-230000-abcdef' }, id: '20261201-230000-abcdef' });
  expect(streamOfLaunch({ ...command, runId: 'dag-20261201-230000-abcdef' } as PreparedJobRun)).toEqual({ ids: { runId: 'dag-20261201-230000-abcdef' }, id: 'dag-20261201-230000-abcdef' });
  // A running jobRun replays its recorded prepareJobRun, whose result named the run as a build id.
  expect(streamOfLaunch({ ...command, buildId: 'run-20261201-230000-abcdef' } as PreparedTask)).toEqual({ ids: { runId: 'run-20261201-230000-abcdef' }, id: 'run-20261201-230000-abcdef' });
});
