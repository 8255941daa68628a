/** STRATA_JOBS as a git URL: cloned into the data folder and brought up to date on the next start. */
import fs from 'node:fs';
import path from 'node:path';
import { simpleGit } from 'simple-git';
import { JobLoader, resolveJobsDir } from '../src/jobs/loader.js';
import { makeJobsRepo } from './helpers/jobs.js';
import { tempDir } from './helpers/stack.js';

test('a git URL is cloned, then updated to the remote head', async () => {
  const origin = await makeJobsRepo({ first: { outputs: ['a/d={d}'], exec: ['true'] } });
  const data = tempDir('gitdata');
  const dir = await resolveJobsDir(`file://${origin}`, data);
  expect(dir).toBe(path.join(data, 'jobs-repo'));
  expect([...new JobLoader(dir).loadFolder().jobs.keys()]).toEqual(['first']);

  fs.mkdirSync(path.join(origin, 'second'));
  fs.writeFileSync(path.join(origin, 'second', 'job.yaml'), 'name: second\nteam: t\noutputs: ["b/d={d}"]\nexec: ["true"]\n');
  await simpleGit(origin).add('.').commit('second job');
  await resolveJobsDir(`file://${origin}`, data);
  expect([...new JobLoader(dir).loadFolder().jobs.keys()]).toEqual(['first', 'second']);
});

test('a folder is used as it is; anything else is refused naming the value', async () => {
  const dir = await makeJobsRepo({ only: { outputs: ['a/d={d}'], exec: ['true'] } });
  expect(await resolveJobsDir(dir, tempDir('unused'))).toBe(dir);
  await expect(resolveJobsDir('/no/such/folder', tempDir('unused'))).rejects.toThrow('STRATA_JOBS=/no/such/folder: not a directory');
  await expect(resolveJobsDir('https://git.example/jobs.git --upload-pack=x', tempDir('unused'))).rejects.toMatchObject({
    type: 'invalid_repo',
    message: 'STRATA_JOBS: repository refused: it contains whitespace or control characters',
    details: { field: 'STRATA_JOBS' },
  });
});

test('invalid and duplicate jobs are reported, the valid ones still load', async () => {
  const dir = await makeJobsRepo({ good: { outputs: ['a/d={d}'], exec: ['true'] } }, { 'broken/job.yaml': 'name: broken\nteam: t\n', 'copy/job.yaml': 'name: good\nteam: t\noutputs: ["c/d={d}"]\nexec: ["true"]\n' });
  const { jobs, problems } = new JobLoader(dir).loadFolder();
  expect([...jobs.keys()]).toEqual(['good']);
  expect(problems).toEqual([
    expect.stringMatching(/broken\/job\.yaml: outputs: /),
    // Folders load in name order: copy/ claims the name first, good/ is the duplicate.
    expect.stringMatching(/good\/job\.yaml: name: "good" is already the name of the job in .*copy\/job\.yaml/),
  ]);
});
