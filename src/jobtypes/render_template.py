"""Renders one job-type template with real Jinja2, for src/jobtypes/render.ts.

Run as `python3 render_template.py` with PYTHONPATH=.tools/jinja2-<version> (scripts/provision.mjs installs
the pinned Jinja2 there; src/jobtypes/jinja2-pin.json names the version). It reads one JSON request on stdin:

    {"plugin_dir": <folder the template may include and import from>,
     "template_file": <path of the template, inside plugin_dir> | "template_source": <the template's text>,
     "name": <what error messages call the template>,
     "racetrack": {"manifest": {...}, "git_version", "deployed_by_racetrack_version", "job_type_version",
                   "base_image"?},   (optional: Racetrack's context, built here)
     "context": {...}}               (optional: more variables, plain JSON values)

and writes the rendered text (UTF-8) to stdout with exit status 0, or one JSON object
{"error": <message>, "template": <name>, "line": <line or null>} with exit status 2.

Rendering is Jinja2's defaults, as plain `jinja2.Template(text).render(**context)` in Racetrack's image
builder: no autoescape, the lenient Undefined, no trim_blocks/lstrip_blocks, one trailing newline dropped.
It runs in a SandboxedEnvironment, and `{% include %}` / `{% import %}` find only files inside plugin_dir
(symlinks are resolved first, so one pointing outside is refused too).
"""

import json
import os
import sys
import types

import jinja2
import jinja2.sandbox

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
    """Stands in for Racetrack's pydantic Manifest: fields are attributes, get_jobtype_extra() a method."""

    def __init__(self, fields):
        values = dict(MANIFEST_DEFAULTS)
        values.update(fields)
        if values['jobtype'] is None and values['lang'] is not None:
            values['jobtype'] = values['lang']  # deprecated spelling
        if isinstance(values.get('git'), dict):
            values['git'] = {'branch': None, 'directory': '.', **values['git']}
        super().__init__(**values)

    def get_jobtype_extra(self):
        """The first of jobtype_extra and its deprecated aliases that is set, else None."""
        for field in [self.jobtype_extra, self.golang, self.python, self.wrapper_properties]:
            if field is not None:
                return field
        return None


def racetrack_context(ctx):
    """The variables Racetrack's image builder renders job-template.Dockerfile with (image_builder/docker/template.py)."""
    manifest = Manifest(ctx['manifest'])
    return {
        'manifest': manifest,
        'manifest_jobtype_extra': manifest.get_jobtype_extra() or {},
        'env_vars': manifest.build_env or {},
        'git_version': ctx['git_version'],
        'deployed_by_racetrack_version': ctx['deployed_by_racetrack_version'],
        'job_type_version': ctx['job_type_version'],
        'base_image': ctx.get('base_image') or '',
    }


class PluginLoader(jinja2.FileSystemLoader):
    """A FileSystemLoader that refuses files whose real path (symlinks resolved) is outside its folder."""

    def __init__(self, folder):
        super().__init__(folder, followlinks=False)
        self.root = os.path.realpath(folder)

    def get_source(self, environment, template):
        source, filename, uptodate = super().get_source(environment, template)
        real = os.path.realpath(filename)
        if os.path.commonpath([real, self.root]) != self.root:
            raise jinja2.TemplateNotFound(f'{template} (it resolves to a file outside the plugin folder)')
        return source, filename, uptodate


class Failure(Exception):
    def __init__(self, message, template, line):
        super().__init__(message)
        self.message = message
        self.template = template
        self.line = line


def template_line(tb, names):
    """The template and line of the innermost traceback frame that is template code (Jinja2 rewrites those)."""
    found = (None, None)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename in names:
            found = (names[filename], tb.tb_lineno)
        tb = tb.tb_next
    return found


def describe(err):
    if isinstance(err, jinja2.TemplatesNotFound):
        return f'template not found: {", ".join(str(n) for n in err.templates)} (only files inside the plugin folder can be included)'
    if isinstance(err, jinja2.TemplateNotFound):
        return f'template not found: {err.name} (only files inside the plugin folder can be included)'
    if isinstance(err, jinja2.TemplateSyntaxError):
        return err.message or 'syntax error'
    if isinstance(err, jinja2.TemplateRuntimeError) and not isinstance(err, jinja2.sandbox.SecurityError):
        return str(err)  # UndefinedError and the like: Jinja2's message says it all
    return f'{type(err).__name__}: {err}'  # SecurityError from the sandbox, Python's TypeError, ValueError…


def render(request):
    plugin_dir = os.path.abspath(request['plugin_dir'])
    name = request['name']
    env = jinja2.sandbox.SandboxedEnvironment(loader=PluginLoader(plugin_dir))
    context = racetrack_context(request['racetrack']) if request.get('racetrack') is not None else {}
    context.update(request.get('context') or {})

    # Traceback filenames of template code → the names errors give.
    names = {}
    original_get_source = env.loader.get_source

    def get_source(environment, template):
        result = original_get_source(environment, template)
        names.setdefault(result[1], template)
        return result

    env.loader.get_source = get_source
    try:
        if 'template_source' in request:
            names['<template>'] = name
            template = env.from_string(request['template_source'])
        else:
            relative = os.path.relpath(os.path.abspath(request['template_file']), plugin_dir)
            if relative == os.pardir or relative.startswith(os.pardir + os.sep):
                raise Failure(f'the template is not inside the plugin folder {plugin_dir}', name, None)
            names[os.path.normpath(os.path.join(plugin_dir, relative))] = name
            template = env.get_template(relative.replace(os.sep, '/'))
        return template.render(**context)
    except Failure:
        raise
    except jinja2.TemplateSyntaxError as err:
        where = names.get(err.filename, err.name) if err.filename else name
        raise Failure(describe(err), where or name, err.lineno) from err
    except Exception as err:  # noqa: BLE001 - any Jinja2 or Python error fails the template
        where, line = template_line(err.__traceback__, names)
        raise Failure(describe(err), where or name, line) from err


def main():
    request = {}
    try:
        request = json.loads(sys.stdin.buffer.read())
        output = render(request)
    except Failure as failure:
        error = {'error': failure.message, 'template': failure.template, 'line': failure.line}
    except Exception as err:  # noqa: BLE001 - a bad request
        error = {'error': f'{type(err).__name__}: {err}', 'template': request.get('name'), 'line': None}
    else:
        sys.stdout.buffer.write(output.encode('utf-8', 'surrogatepass'))
        return 0
    sys.stdout.buffer.write(json.dumps(error, ensure_ascii=False).encode('utf-8', 'surrogatepass'))
    return 2


if __name__ == '__main__':
    sys.exit(main())
