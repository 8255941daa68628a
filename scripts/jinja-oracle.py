"""Jinja2 oracle for src/jobtypes/jinja.ts: writes the expected outputs under test/fixtures/jinja/.

Regenerate (needs Debian's python3-jinja2, not the pyenv python3 on PATH):

    /usr/bin/python3 scripts/jinja-oracle.py

Every case is rendered with a plain `jinja2.Template(text).render(**context)`, as Racetrack's image
builder does, so Jinja2's defaults apply (no trim_blocks/lstrip_blocks, one trailing newline dropped,
lenient Undefined, no autoescape).

- test/fixtures/jinja/<case>.json: {"template": <path relative to test/fixtures/racetrack>,
  "context": {"manifest": {...}, "git_version", "deployed_by_racetrack_version", "job_type_version",
  "base_image"?}} → <case>.out. The context is built like Racetrack's (and like
  src/jobtypes/templateContext.ts): the manifest becomes an object with attributes, Racetrack's
  defaults and a get_jobtype_extra() method.
- test/fixtures/jinja/synthetic/<name>.jinja with the plain context <name>.json → <name>.out.
- test/fixtures/jinja/errors/cases.json: templates Jinja2 must refuse → errors/jinja2-errors.json
  (the oracle fails if one of them renders).
"""

import glob
import json
import os
import sys
import types

import jinja2

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, 'test', 'fixtures', 'jinja')
PEERS = os.path.join(REPO, 'test', 'fixtures', 'racetrack')

# Racetrack's defaults (racetrack_client/manifest/manifest.py); other optional fields default to None.
MANIFEST_DEFAULTS = {
    'version': '0.0.1',
    'jobtype': None,
    'lang': None,
    'extends': None,
    'image_type': 'docker',
    'system_dependencies': None,
    'build_env': None,
    'runtime_env': None,
    'secret_build_env_file': None,
    'secret_runtime_env_file': None,
    'labels': None,
    'public_endpoints': None,
    'replicas': 1,
    'resources': None,
    'jobtype_extra': None,
    'golang': None,
    'python': None,
    'docker': None,
    'wrapper_properties': None,
    'infrastructure_target': None,
}


class Manifest(types.SimpleNamespace):
    """Stands in for Racetrack's pydantic Manifest: fields are attributes."""

    def __init__(self, fields):
        values = dict(MANIFEST_DEFAULTS)
        values.update(fields)
        if values['jobtype'] is None and values['lang'] is not None:
            values['jobtype'] = values['lang']  # deprecated spelling
        if isinstance(values.get('git'), dict):
            values['git'] = {'branch': None, 'directory': '.', **values['git']}
        super().__init__(**values)

    def get_jobtype_extra(self):
        for field in [self.jobtype_extra, self.golang, self.python, self.wrapper_properties]:
            if field is not None:
                return field
        return None


def racetrack_context(ctx):
    manifest = Manifest(ctx['manifest'])
    return {
        'manifest': manifest,
        'manifest_jobtype_extra': manifest.get_jobtype_extra() or {},
        'env_vars': manifest.build_env or {},
        'git_version': ctx['git_version'],
        'deployed_by_racetrack_version': ctx['deployed_by_racetrack_version'],
        'job_type_version': ctx['job_type_version'],
        'base_image': ctx.get('base_image', ''),
    }


def read_text(path):
    with open(path, encoding='utf-8', newline='') as f:
        return f.read()


def write_text(path, text):
    with open(path, 'w', encoding='utf-8', newline='') as f:
        f.write(text)


def render(text, context):
    return jinja2.Template(text).render(**context)


def main():
    written = 0
    for case_path in sorted(glob.glob(os.path.join(FIXTURES, '*.json'))):
        with open(case_path, encoding='utf-8') as f:
            case = json.load(f)
        text = read_text(os.path.join(PEERS, case['template']))
        write_text(case_path[: -len('.json')] + '.out', render(text, racetrack_context(case['context'])))
        written += 1

    for template_path in sorted(glob.glob(os.path.join(FIXTURES, 'synthetic', '*.jinja'))):
        base = template_path[: -len('.jinja')]
        with open(base + '.json', encoding='utf-8') as f:
            context = json.load(f)
        write_text(base + '.out', render(read_text(template_path), context))
        written += 1

    with open(os.path.join(FIXTURES, 'errors', 'cases.json'), encoding='utf-8') as f:
        error_cases = json.load(f)
    errors = []
    for case in error_cases:
        try:
            output = render(case['template'], case.get('context', {}))
        except Exception as e:  # noqa: BLE001 - any Jinja2/Python error is what we record
            errors.append({'template': case['template'], 'jinja2': f'{type(e).__name__}: {e}'})
        else:
            sys.exit(f'error case rendered without error: {case["template"]!r} -> {output!r}')
    write_text(os.path.join(FIXTURES, 'errors', 'jinja2-errors.json'), json.dumps(errors, indent=2, ensure_ascii=False) + '\n')

    print(f'jinja2 {jinja2.__version__}: wrote {written} outputs and {len(errors)} error cases')


if __name__ == '__main__':
    main()
