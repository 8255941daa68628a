import { jobScheduleDefinition } from '../../src/engine/jobManifest.js';
import { parseJobManifest } from '../../src/jobs/loader.js';

const file = '/jobs/sales/job.yaml';

describe('job.yaml', () => {
  test('a valid manifest with Racetrack fields and the partition contract', () => {
    const job = parseJobManifest(
      file,
      `
name: daily-sales
team: finance
owner_email: data@finance.example
jobtype: python:1
jobtype_extra: { requirements_path: requirements.txt }
runtime_env: { MODE: prod }
labels: { tier: 1 }
outputs: ["sales/daily/date={date}"]
inputs: ["orders/raw/date={date}", { partition: "fx/date={date}", dep_type: query }]
exec: ["python", "main.py", "--date", "{date}"]
retries: 2
`,
    );
    expect(job.name).toBe('daily-sales');
    expect(job.inputs.map((i) => i.depType)).toEqual(['materialize', 'query']);
    expect(job.manifest.labels).toEqual({ tier: '1' });
  });

  test.each([
    ['unknown key', 'name: a\nteam: t\noutputs: ["x/d={d}"]\nexec: ["true"]\ncolour: red\n', `${file}: unknown key "colour"`],
    ['missing exec', 'name: a\nteam: t\noutputs: ["x/d={d}"]\n', `${file}: exec:`],
    ['bad name', 'name: A_B\nteam: t\noutputs: ["x/d={d}"]\nexec: ["true"]\n', `${file}: name: must be lowercase`],
    ['input var not bound', 'name: a\nteam: t\noutputs: ["x/d={d}"]\ninputs: ["y/e={e}"]\nexec: ["true"]\n', `${file}: inputs[0]: "y/e={e}" uses {e}, which no output binds`],
    ['exec var not bound', 'name: a\nteam: t\noutputs: ["x/d={d}"]\nexec: [run, "{e}"]\n', `${file}: exec[1]: uses {e}`],
    ['bad pattern', 'name: a\nteam: t\noutputs: ["x/{d}"]\nexec: ["true"]\n', `${file}: outputs[0]: "x/{d}"`],
    ['env value not a string', 'name: a\nteam: t\noutputs: ["x/d={d}"]\nexec: ["true"]\nruntime_env: { A: [1] }\n', `${file}: runtime_env.A:`],
    ['not YAML', 'name: [a\n', `${file} (line`],
  ])('%s is refused naming the file and the field', (_what, text, expected) => {
    expect(() => parseJobManifest(file, text)).toThrow(expected);
  });

  const base = 'name: a\nteam: t\noutputs: ["x/d={d}"]\nexec: ["true"]\n';
  test.each([
    ['a quote and a newline in a build_env value', 'build_env: { A: "x\\"\\nRUN evil" }', 'build_env.A: contains "\\""'],
    ['a newline in a build_env value', 'build_env: { A: "x\\nRUN evil" }', 'build_env.A: contains "\\n"'],
    ['$ in a build_env value', 'build_env: { A: "$(id)" }', 'build_env.A: contains "$"'],
    ['a quote in a label', 'labels: { tier: "a\\" LABEL x=\\"y" }', 'labels.tier: contains "\\""'],
    ['a backslash in a label', 'labels: { tier: "a\\\\" }', 'labels.tier: contains "\\\\"'],
    ['a newline in a label name', 'labels: { "a\\nRUN": b }', 'labels["a\\nRUN"]: must be a label name'],
    ['a quote in jobtype_extra', "jobtype_extra: { entrypoint_path: \"x' && evil '\" }", 'jobtype_extra.entrypoint_path: contains "\'"'],
    ['a newline in a nested jobtype_extra key', 'jobtype_extra: { deps: { "a\\nRUN": 1 } }', 'jobtype_extra.deps["a\\nRUN"]: contains "\\n"'],
    ['a shell list in system_dependencies', 'system_dependencies: ["curl; rm -rf /"]', 'system_dependencies[0]: must be a package name'],
    ['a quote in the version', 'version: \'1" \'', 'version: must be a version'],
  ])('%s would inject into the Dockerfile and is refused', (_what, line, expected) => {
    expect(() => parseJobManifest(file, `${base}${line}\n`)).toThrow(`${file}: ${expected}`);
  });

  describe('backfill:', () => {
    const job = (extra: string) => `name: a\nteam: t\nexec: ["true"]\noutputs: ["x/d={date}"]\n${extra}\n`;
    test('max_partitions_per_task is a whole number from 1 to 1000, and not with a config command', () => {
      expect(parseJobManifest(file, job('backfill: { max_partitions_per_task: 31 }')).manifest.backfill).toEqual({ max_partitions_per_task: 31 });
      expect(() => parseJobManifest(file, job('backfill: { max_partitions_per_task: 0 }'))).toThrow(`${file}: backfill.max_partitions_per_task:`);
      expect(() => parseJobManifest(file, job('backfill: { max_partitions_per_task: 1001 }'))).toThrow('backfill.max_partitions_per_task: must be at most 1000');
      expect(() => parseJobManifest(file, job('backfill: { max_partitions: 3 }'))).toThrow(`${file}: backfill: unknown key "max_partitions"`);
      expect(() => parseJobManifest(file, job('config: ["./config.sh"]\nbackfill: { max_partitions_per_task: 3 }'))).toThrow(
        `${file}: backfill.max_partitions_per_task: cannot be used with \`config\``,
      );
    });
  });

  describe('schedule:', () => {
    const scheduled = (outputs: string, schedule: string) => `name: a\nteam: t\nexec: ["true"]\noutputs: ${outputs}\nschedule: ${schedule}\n`;

    test('partitions default to the outputs when their variables are time variables', () => {
      const job = parseJobManifest(file, scheduled('["sales/daily/date={date}"]', '{ cron: "30 0 * * *", timezone: Europe/Paris }'));
      expect(jobScheduleDefinition(job.manifest)).toMatchObject({ cron: '30 0 * * *', timezone: 'Europe/Paris', overlap: 'skip', partitions: ['sales/daily/date={date}'] });
      expect(jobScheduleDefinition(parseJobManifest(file, scheduled('["x/region={region}/d={date}"]', '{ every: 1h, partitions: ["x/region=eu/d={date-1d}"] }')).manifest)?.partitions).toEqual(['x/region=eu/d={date-1d}']);
    });

    test.each([
      ['a variable that is not of time', '["x/region={region}/d={date}"]', '{ every: 1h }', 'schedule.partitions: is required: the outputs use {region}'],
      ['a template no output produces', '["x/region={region}/d={date}"]', '{ every: 1h, partitions: ["x/d={date}"] }', 'schedule.partitions[0]: "x/d={date}" names partitions such as "x/d=2026-11-01", which no output'],
      ['a bad template', '["x/d={date}"]', '{ every: 1h, partitions: ["x/d={dat}"] }', 'schedule.partitions[0]: template "x/d={dat}" uses {dat}'],
      ['a bad zone', '["x/d={date}"]', '{ every: 1h, timezone: Mars/Olympus }', 'schedule.timezone:'],
      ['neither cron nor every', '["x/d={date}"]', '{ timezone: UTC }', 'schedule.cron: give either cron or every'],
    ])('%s is refused, naming the field', (_what, outputs, schedule, expected) => {
      expect(() => parseJobManifest(file, scheduled(outputs, schedule))).toThrow(`${file}: ${expected}`);
    });
  });
});
