"""Jinja2 oracle for the job-type template tests (test/unit/render.test.ts): writes the expected outputs
under test/fixtures/jinja/, or with --check compares them with what it would write.

Run with the Jinja2 that scripts/provision.mjs installs (the committed outputs were made by Debian's
python3-jinja2 3.1.2; do not rewrite them just to make a test pass):

    PYTHONPATH=.tools/jinja2-3.1.6 python3 scripts/jinja-oracle.py --check

Every case is rendered with a plain `jinja2.Template(text).render(**context)`, as Racetrack's image
builder does, so Jinja2's defaults apply (no trim_blocks/lstrip_blocks, one trailing newline dropped,
lenient Undefined, no autoescape); not through the sandboxed helper the tests check,
src/jobtypes/render_template.py, whose racetrack_context() builds the context for both.

- test/fixtures/jinja/<case>.json: {"template": <path relative to test/fixtures/racetrack>,
  "context": {"manifest": {...}, "git_version", "deployed_by_racetrack_version", "job_type_version",
  "base_image"?}} → <case>.out. The context is built like Racetrack's (by the helper's
  racetrack_context()): the manifest becomes an object with attributes, Racetrack's defaults and a
  get_jobtype_extra() method.
- test/fixtures/jinja/synthetic/<name>.jinja with the plain context <name>.json → <name>.out.
- test/fixtures/jinja/errors/cases.json: templates Jinja2 must refuse → errors/jinja2-errors.json
  (the oracle fails if one of them renders).
"""

import glob
import json
import os
import sys

import jinja2

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'src', 'jobtypes'))
sys.dont_write_bytecode = True  # no __pycache__ in src/
from render_template import racetrack_context  # noqa: E402 - the helper's copy of Racetrack's context

FIXTURES = os.path.join(REPO, 'test', 'fixtures', 'jinja')
PEERS = os.path.join(REPO, 'test', 'fixtures', 'racetrack')


def read_text(path):
    with open(path, encoding='utf-8', newline='') as f:
        return f.read()


CHECK = '--check' in sys.argv[1:]
differences = []


def write_text(path, text):
    if CHECK:
        if not os.path.exists(path) or read_text(path) != text:
            differences.append(os.path.relpath(path, REPO))
        return
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

    if CHECK:
        if differences:
            sys.exit(f'jinja2 {jinja2.__version__} renders differently: {", ".join(differences)}')
        print(f'jinja2 {jinja2.__version__}: {written} outputs and {len(errors)} error cases as committed')
    else:
        print(f'jinja2 {jinja2.__version__}: wrote {written} outputs and {len(errors)} error cases')


if __name__ == '__main__':
    main()
