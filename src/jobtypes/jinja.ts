/**
 * A small Jinja2-compatible renderer for job-type Dockerfile templates (lexer → parser → evaluator).
 *
 * It reproduces plain `jinja2.Template(text).render(**ctx)` for the subset of Jinja2 that Racetrack's
 * job-type templates use (see test/fixtures/racetrack/README.md): Jinja2's defaults apply, i.e. no
 * trim_blocks, no lstrip_blocks, one trailing newline of the template dropped, the lenient Undefined,
 * no autoescape. Values follow Python's semantics (truthiness, equality, `str()`), because that is
 * what decides the bytes of the rendered Dockerfile.
 *
 * Context model: JS plain objects are Python dicts, arrays are lists, `null` is None, `undefined` is
 * Undefined, functions are callables. Other class instances are Python objects whose properties and
 * methods are attributes (e.g. the manifest of templateContext.ts). An integral JS number is an int,
 * any other number a float. Beware: JS objects list integer-like keys ("2") before the others, where a
 * Python dict keeps insertion order.
 *
 * Deliberately unsupported (each fails loudly with a TemplateError, never renders something else):
 * arithmetic and `~`, slices, macros/include/extends/import/raw/block-set/with, loop filters
 * (`for x in y if c`), recursive loops, tests other than defined/undefined/none, filters other than
 * those in FILTERS, Jinja's globals (range, dict, namespace…), dict literals with non-string keys.
 */

export class TemplateError extends Error {
  constructor(
    readonly templateName: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${templateName} line ${line}: ${reason}`);
    this.name = 'TemplateError';
  }
}

/** A Python-level exception raised while evaluating; the expression node that catches it adds the line. */
class PyError extends Error {}

// ---------------------------------------------------------------------------------------------------
// Python values that have no direct JS counterpart
// ---------------------------------------------------------------------------------------------------

type Dict = Record<string, unknown>;
type Kwargs = Record<string, unknown>;

/** Jinja2's default Undefined: renders as '', is falsy and iterates as empty; attribute access, calls and ordering fail with `hint`. */
class Undefined {
  constructor(readonly hint: string) {}
}

/** A float literal such as `1.0`: JS cannot tell 1.0 from 1, but Python prints them differently. */
class PyFloat {
  constructor(readonly value: number) {}
}

class PyTuple {
  constructor(readonly items: readonly unknown[]) {}
}

/** What dict.keys()/values()/items() return: iterable, and printed as `dict_items([...])`. */
class DictView {
  constructor(
    readonly kind: 'keys' | 'values' | 'items',
    readonly dict: Dict,
  ) {}
  entries(): unknown[] {
    if (this.kind === 'keys') return Object.keys(this.dict);
    if (this.kind === 'values') return Object.values(this.dict);
    return Object.entries(this.dict).map(([k, v]) => new PyTuple([k, v]));
  }
}

/** A bound Python method of a str/dict value, e.g. `'a.b'.replace`. */
class Builtin {
  constructor(
    readonly name: string,
    readonly call: (args: unknown[], kwargs: Kwargs) => unknown,
  ) {}
}

/** The `loop` variable inside `{% for %}` (the commonly used part of Jinja's LoopContext). */
class LoopContext {
  readonly index: number;
  readonly revindex0: number;
  readonly revindex: number;
  readonly first: boolean;
  readonly last: boolean;
  readonly length: number;
  readonly depth = 1;
  readonly depth0 = 0;
  readonly previtem: unknown;
  readonly nextitem: unknown;
  constructor(
    readonly index0: number,
    items: readonly unknown[],
  ) {
    this.length = items.length;
    this.index = index0 + 1;
    this.revindex0 = items.length - index0 - 1;
    this.revindex = items.length - index0;
    this.first = index0 === 0;
    this.last = index0 === items.length - 1;
    this.previtem = index0 > 0 ? items[index0 - 1] : new Undefined('there is no previous item');
    this.nextitem = index0 + 1 < items.length ? items[index0 + 1] : new Undefined('there is no next item');
  }
}

const isUndef = (v: unknown): v is Undefined | undefined => v === undefined || v instanceof Undefined;
const undefHint = (v: Undefined | undefined): string => (v instanceof Undefined ? v.hint : 'value is undefined');

function isDict(v: unknown): v is Dict {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** A class instance from the context (e.g. the manifest), as opposed to the Python values modelled in this file. */
function isPyObject(v: unknown): v is object {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || isDict(v)) return false;
  return ![Undefined, PyFloat, PyTuple, DictView, Builtin].some((cls) => v instanceof cls);
}

/** bool, int and float all compare as numbers in Python (True == 1 == 1.0). */
function numberOf(v: unknown): number | undefined {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return v;
  if (v instanceof PyFloat) return v.value;
  return undefined;
}

function typeName(v: unknown): string {
  if (isUndef(v)) return 'Undefined';
  if (v === null) return 'NoneType';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (v instanceof PyFloat) return 'float';
  if (typeof v === 'string') return 'str';
  if (Array.isArray(v)) return 'list';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof DictView) return `dict_${v.kind}`;
  if (isDict(v)) return 'dict';
  if (v instanceof Builtin) return 'builtin_function_or_method';
  if (typeof v === 'function') return 'function';
  return (v as object).constructor?.name ?? 'object';
}

// ---------------------------------------------------------------------------------------------------
// str() and repr()
// ---------------------------------------------------------------------------------------------------

/** Python's str(): what `{{ value }}` writes. */
function pyStr(v: unknown): string {
  if (typeof v === 'string') return v;
  if (isUndef(v)) return '';
  return pyRepr(v);
}

function pyRepr(v: unknown): string {
  if (isUndef(v)) return 'Undefined';
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') return Number.isInteger(v) ? intStr(v) : floatRepr(v);
  if (v instanceof PyFloat) return floatRepr(v.value);
  if (typeof v === 'string') return strRepr(v);
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (v instanceof PyTuple) return v.items.length === 1 ? `(${pyRepr(v.items[0])},)` : `(${v.items.map(pyRepr).join(', ')})`;
  if (v instanceof DictView) return `dict_${v.kind}([${v.entries().map(pyRepr).join(', ')}])`;
  if (isDict(v)) return `{${Object.entries(v).map(([k, x]) => `${strRepr(k)}: ${pyRepr(x)}`).join(', ')}}`;
  if (v instanceof Builtin) return `<built-in method ${v.name}>`;
  if (typeof v === 'function') return `<function ${v.name.replace(/^bound /, '')}>`;
  if (v instanceof LoopContext) return `<LoopContext ${v.index}/${v.length}>`;
  return `<${typeName(v)} object>`;
}

/** Python ints have no exponent form: 1e21 prints all its digits. */
const intStr = (n: number): string => (Math.abs(n) < 1e21 ? String(n) : BigInt(n).toString());

/**
 * Python's float repr: the same shortest round-trip digits as JS, but Python switches to exponent
 * notation below 1e-4 and from 1e16 on, writes at least two exponent digits, and always shows a
 * fractional part ('1.0').
 */
function floatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, expText] = x.toExponential().split('e');
  const exp = Number(expText);
  const sign = x < 0 ? '-' : '';
  const digits = mantissa.replace('-', '').replace('.', '');
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const whole = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
  return `${sign}${whole}.${digits.slice(exp + 1) || '0'}`;
}

/** str.isprintable() is false for these: control, format, surrogate, private-use, unassigned and separators except ' '. */
const NON_PRINTABLE = /[\p{C}\p{Z}]/u;

/** Python's repr of a str: single quotes unless the text has ' but no ". */
function strRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = '';
  for (const ch of s) {
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch !== ' ' && NON_PRINTABLE.test(ch)) {
      const cp = ch.codePointAt(0)!;
      const hex = cp.toString(16);
      out += cp < 0x100 ? `\\x${hex.padStart(2, '0')}` : cp < 0x10000 ? `\\u${hex.padStart(4, '0')}` : `\\U${hex.padStart(8, '0')}`;
    } else out += ch;
  }
  return quote + out + quote;
}

// ---------------------------------------------------------------------------------------------------
// Python semantics: truthiness, equality, ordering, membership, iteration, len
// ---------------------------------------------------------------------------------------------------

function truthy(v: unknown): boolean {
  if (isUndef(v) || v === null || v === false) return false;
  if (typeof v === 'number') return v !== 0; // bool(nan) is True in Python
  if (v instanceof PyFloat) return v.value !== 0;
  if (typeof v === 'string' || Array.isArray(v)) return v.length > 0;
  if (v instanceof PyTuple) return v.items.length > 0;
  if (v instanceof DictView) return Object.keys(v.dict).length > 0;
  if (isDict(v)) return Object.keys(v).length > 0;
  return true;
}

/** Python `==`: 1 == 1.0 == True, [1] != (1,), and an Undefined equals only another Undefined. */
function pyEq(a: unknown, b: unknown): boolean {
  if (isUndef(a) || isUndef(b)) return isUndef(a) && isUndef(b);
  const na = numberOf(a);
  const nb = numberOf(b);
  if (na !== undefined || nb !== undefined) return na === nb;
  if (Array.isArray(a) && Array.isArray(b)) return seqEq(a, b);
  if (a instanceof PyTuple && b instanceof PyTuple) return seqEq(a.items, b.items);
  if (isDict(a) && isDict(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && pyEq(a[k], b[k]));
  }
  return a === b;
}

const seqEq = (a: readonly unknown[], b: readonly unknown[]): boolean => a.length === b.length && a.every((x, i) => pyEq(x, b[i]));

/** Python ordering (`<` etc.): numbers with numbers, str with str, list with list; anything else is a TypeError. */
function pyOrder(op: string, a: unknown, b: unknown): boolean {
  if (isUndef(a)) throw new PyError(undefHint(a));
  if (isUndef(b)) throw new PyError(undefHint(b));
  const c = compareValues(op, a, b);
  return op === '<' ? c < 0 : op === '<=' ? c <= 0 : op === '>' ? c > 0 : c >= 0;
}

function compareValues(op: string, a: unknown, b: unknown): number {
  const na = numberOf(a);
  const nb = numberOf(b);
  if (na !== undefined && nb !== undefined) return na < nb ? -1 : na > nb ? 1 : na === nb ? 0 : NaN;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  const seqs = Array.isArray(a) && Array.isArray(b) ? [a, b] : a instanceof PyTuple && b instanceof PyTuple ? [a.items, b.items] : undefined;
  if (seqs) {
    const [x, y] = seqs;
    // Lexicographic, like Python: the first differing element decides, else the length.
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (!pyEq(x[i], y[i])) return compareValues(op, x[i], y[i]);
    return x.length - y.length;
  }
  throw new PyError(`'${op}' not supported between instances of '${typeName(a)}' and '${typeName(b)}'`);
}

/** Python `needle in container`, with Python equality: `1 in [true, 'true']` is True. */
function pyIn(needle: unknown, container: unknown): boolean {
  if (isUndef(container)) return false; // Undefined iterates as empty
  if (typeof container === 'string') {
    if (typeof needle !== 'string') throw new PyError(`'in <string>' requires string as left operand, not ${typeName(needle)}`);
    return container.includes(needle);
  }
  if (Array.isArray(container)) return container.some((x) => pyEq(needle, x));
  if (container instanceof PyTuple) return container.items.some((x) => pyEq(needle, x));
  if (isDict(container) || (container instanceof DictView && container.kind === 'keys')) {
    const dict = isDict(container) ? container : container.dict;
    if (Array.isArray(needle) || isDict(needle)) throw new PyError(`unhashable type: '${typeName(needle)}'`);
    return typeof needle === 'string' && Object.hasOwn(dict, needle); // our dicts only have str keys
  }
  if (container instanceof DictView) return container.entries().some((x) => pyEq(needle, x));
  throw new PyError(`argument of type '${typeName(container)}' is not iterable`);
}

function iterate(v: unknown): readonly unknown[] {
  if (isUndef(v)) return [];
  if (typeof v === 'string') return [...v];
  if (Array.isArray(v)) return v;
  if (v instanceof PyTuple) return v.items;
  if (v instanceof DictView) return v.entries();
  if (isDict(v)) return Object.keys(v); // iterating a dict yields its keys
  throw new PyError(`'${typeName(v)}' object is not iterable`);
}

function pyLen(v: unknown): number {
  if (isUndef(v)) return 0;
  if (typeof v === 'string') return [...v].length; // code points, not UTF-16 units
  if (Array.isArray(v)) return v.length;
  if (v instanceof PyTuple) return v.items.length;
  if (v instanceof DictView || isDict(v)) return Object.keys(v instanceof DictView ? v.dict : v).length;
  throw new PyError(`object of type '${typeName(v)}' has no len()`);
}

// ---------------------------------------------------------------------------------------------------
// Attribute and item lookup (Jinja's Environment.getattr / getitem)
// ---------------------------------------------------------------------------------------------------

const NOT_FOUND = Symbol('not found');

// Python method names that exist on these types but are not implemented here: refuse them rather than
// treat them as missing (Python would find the method, we would silently render '').
const PY_METHOD_NAMES: Record<string, string[]> = {
  str: 'capitalize casefold center count encode endswith expandtabs find format format_map index isalnum isalpha isascii isdecimal isdigit isidentifier islower isnumeric isprintable isspace istitle isupper join ljust lower lstrip maketrans partition removeprefix removesuffix replace rfind rindex rjust rpartition rsplit rstrip split splitlines startswith strip swapcase title translate upper zfill'.split(' '),
  dict: 'clear copy fromkeys get items keys pop popitem setdefault update values'.split(' '),
  list: 'append clear copy count extend index insert pop remove reverse sort'.split(' '),
  tuple: ['count', 'index'],
};

/** Python getattr(obj, name), or NOT_FOUND where Python raises AttributeError. */
function pyGetattr(obj: unknown, name: string): unknown {
  if (typeof obj === 'string' && Object.hasOwn(STR_METHODS, name)) {
    const method = STR_METHODS[name];
    return new Builtin(name, (args, kwargs) => method(obj, args, kwargs));
  }
  if (isDict(obj) && Object.hasOwn(DICT_METHODS, name)) {
    // A dict's methods shadow its keys for attribute access: `d.items` is the method even with an 'items' key.
    const method = DICT_METHODS[name];
    return new Builtin(name, (args, kwargs) => method(obj, args, kwargs));
  }
  const type = typeName(obj);
  if (Object.hasOwn(PY_METHOD_NAMES, type) && PY_METHOD_NAMES[type].includes(name)) throw new PyError(`${type} method "${name}" is not supported`);
  if (isPyObject(obj)) {
    // A class instance is a Python object: its properties and methods are its attributes.
    if (name in obj && !(name in Object.prototype)) {
      const value = (obj as Record<string, unknown>)[name];
      return typeof value === 'function' ? value.bind(obj) : value;
    }
  }
  return NOT_FOUND;
}

/** Python obj[key], or NOT_FOUND where Python raises LookupError/TypeError. */
function pyGetitem(obj: unknown, key: unknown): unknown {
  const seq = typeof obj === 'string' ? [...obj] : Array.isArray(obj) ? obj : obj instanceof PyTuple ? obj.items : undefined;
  if (seq) {
    // Floats are not valid indexes; bools are (they are ints).
    const i = typeof key === 'number' || typeof key === 'boolean' ? numberOf(key)! : NaN;
    if (!Number.isInteger(i)) return NOT_FOUND;
    const at = i < 0 ? seq.length + i : i;
    return at >= 0 && at < seq.length ? seq[at] : NOT_FOUND;
  }
  if (isDict(obj)) return typeof key === 'string' && Object.hasOwn(obj, key) ? obj[key] : NOT_FOUND;
  return NOT_FOUND;
}

const objectDescription = (obj: unknown): string => (obj === null ? 'None' : `${typeName(obj)} object`);

/** `obj.name`: the attribute, else the item, else an Undefined (Jinja's lenient lookup). */
function getAttr(obj: unknown, name: string): unknown {
  if (isUndef(obj)) throw new PyError(undefHint(obj)); // Undefined.__getattr__ raises: only the last link of a chain may be missing
  let v = pyGetattr(obj, name);
  if (v === NOT_FOUND) v = pyGetitem(obj, name);
  return v === NOT_FOUND || v === undefined ? new Undefined(`'${objectDescription(obj)}' has no attribute '${name}'`) : v;
}

/** `obj[key]`: the item, else (for a str key) the attribute, else an Undefined. */
function getItem(obj: unknown, key: unknown): unknown {
  if (isUndef(obj)) throw new PyError(undefHint(obj));
  let v = pyGetitem(obj, key);
  if (v === NOT_FOUND && typeof key === 'string') v = pyGetattr(obj, key);
  if (v !== NOT_FOUND && v !== undefined) return v;
  return new Undefined(typeof key === 'string' ? `'${objectDescription(obj)}' has no attribute '${key}'` : `'${objectDescription(obj)}' has no element ${pyRepr(key)}`);
}

// ---------------------------------------------------------------------------------------------------
// Python methods and Jinja filters
// ---------------------------------------------------------------------------------------------------

const REQUIRED = Symbol('required');

/** Binds call arguments to parameters the way Python does, with defaults (REQUIRED = no default). */
function bindArgs(fn: string, params: string[], defaults: unknown[], args: unknown[], kwargs: Kwargs, keywords = true): unknown[] {
  if (args.length > params.length) throw new PyError(`${fn}() takes at most ${params.length} argument(s) (${args.length} given)`);
  const values: unknown[] = params.map((_, i) => (i < args.length ? args[i] : defaults[i]));
  for (const [key, value] of Object.entries(kwargs)) {
    if (!keywords) throw new PyError(`${fn}() takes no keyword arguments`);
    const i = params.indexOf(key);
    if (i < 0) throw new PyError(`${fn}() got an unexpected keyword argument '${key}'`);
    if (i < args.length) throw new PyError(`${fn}() got multiple values for argument '${key}'`);
    values[i] = value;
  }
  const missing = values.findIndex((v) => v === REQUIRED);
  if (missing >= 0) throw new PyError(`${fn}() missing required argument '${params[missing]}'`);
  return values;
}

function needStr(fn: string, v: unknown): string {
  if (typeof v !== 'string') throw new PyError(`${fn}() argument must be str, not ${typeName(v)}`);
  return v;
}

function needInt(fn: string, v: unknown): number {
  if (typeof v === 'boolean' || (typeof v === 'number' && Number.isInteger(v))) return Number(v);
  throw new PyError(`${fn}() argument must be int, not ${typeName(v)}`);
}

/** The characters str.isspace() accepts (Python's notion of whitespace, used by strip/split and `-` trimming). */
const PY_WS = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const LEADING_WS = new RegExp(`^[${PY_WS}]+`);
const TRAILING_WS = new RegExp(`[${PY_WS}]+$`);
const WS_AT = new RegExp(`[${PY_WS}]*`, 'y');
const WS_RUN = new RegExp(`[${PY_WS}]+`);

function pyStrip(s: string, chars: unknown, side: 'both' | 'left' | 'right', fn: string): string {
  if (chars === null) {
    if (side !== 'right') s = s.replace(LEADING_WS, '');
    if (side !== 'left') s = s.replace(TRAILING_WS, '');
    return s;
  }
  const set = new Set(needStr(fn, chars));
  const cps = [...s];
  let start = 0;
  let end = cps.length;
  if (side !== 'right') while (start < end && set.has(cps[start])) start++;
  if (side !== 'left') while (end > start && set.has(cps[end - 1])) end--;
  return cps.slice(start, end).join('');
}

/** Python str.replace: replaces EVERY occurrence (JS String.replace with a string replaces only the first). */
function pyReplace(s: string, old: string, replacement: string, count: number): string {
  if (old === '') {
    // Python inserts the replacement before every character and at the end: 'ab' → '-a-b-'.
    const cps = [...s];
    let out = '';
    for (let i = 0; i <= cps.length; i++) {
      if (count < 0 || i < count) out += replacement;
      if (i < cps.length) out += cps[i];
    }
    return out;
  }
  const parts = s.split(old);
  if (count < 0 || parts.length <= count + 1) return parts.join(replacement);
  return parts.slice(0, count + 1).join(replacement) + old + parts.slice(count + 1).join(old);
}

/** Python str.split: with no separator it splits on runs of whitespace and drops empty strings. */
function pySplit(s: string, sep: unknown, maxsplit: number): string[] {
  if (sep !== null) {
    const separator = needStr('split', sep);
    if (separator === '') throw new PyError('empty separator');
    const parts = s.split(separator);
    return maxsplit < 0 || parts.length <= maxsplit + 1 ? parts : [...parts.slice(0, maxsplit), parts.slice(maxsplit).join(separator)];
  }
  const out: string[] = [];
  let rest = s.replace(LEADING_WS, '');
  while (rest !== '') {
    if (maxsplit >= 0 && out.length === maxsplit) return [...out, rest]; // the remainder keeps its trailing whitespace
    const m = WS_RUN.exec(rest);
    if (!m) return [...out, rest];
    out.push(rest.slice(0, m.index));
    rest = rest.slice(m.index + m[0].length);
  }
  return out;
}

/** startswith/endswith accept a str or a tuple of str. */
const affixes = (fn: string, v: unknown): string[] => (v instanceof PyTuple ? v.items.map((x) => needStr(fn, x)) : [needStr(fn, v)]);

type Method<T> = (self: T, args: unknown[], kwargs: Kwargs) => unknown;

// Python's str methods take their arguments positionally only (except split).
const STR_METHODS: Record<string, Method<string>> = {
  lower: (s, a, k) => (bindArgs('lower', [], [], a, k), s.toLowerCase()),
  upper: (s, a, k) => (bindArgs('upper', [], [], a, k), s.toUpperCase()),
  strip: (s, a, k) => pyStrip(s, bindArgs('strip', ['chars'], [null], a, k, false)[0], 'both', 'strip'),
  lstrip: (s, a, k) => pyStrip(s, bindArgs('lstrip', ['chars'], [null], a, k, false)[0], 'left', 'lstrip'),
  rstrip: (s, a, k) => pyStrip(s, bindArgs('rstrip', ['chars'], [null], a, k, false)[0], 'right', 'rstrip'),
  startswith: (s, a, k) => affixes('startswith', bindArgs('startswith', ['prefix'], [REQUIRED], a, k, false)[0]).some((p) => s.startsWith(p)),
  endswith: (s, a, k) => affixes('endswith', bindArgs('endswith', ['suffix'], [REQUIRED], a, k, false)[0]).some((p) => s.endsWith(p)),
  replace: (s, a, k) => {
    const [old, replacement, count] = bindArgs('replace', ['old', 'new', 'count'], [REQUIRED, REQUIRED, -1], a, k, false);
    return pyReplace(s, needStr('replace', old), needStr('replace', replacement), needInt('replace', count));
  },
  split: (s, a, k) => {
    const [sep, maxsplit] = bindArgs('split', ['sep', 'maxsplit'], [null, -1], a, k);
    return pySplit(s, sep, needInt('split', maxsplit));
  },
};

const DICT_METHODS: Record<string, Method<Dict>> = {
  items: (d, a, k) => (bindArgs('items', [], [], a, k), new DictView('items', d)),
  keys: (d, a, k) => (bindArgs('keys', [], [], a, k), new DictView('keys', d)),
  values: (d, a, k) => (bindArgs('values', [], [], a, k), new DictView('values', d)),
  get: (d, a, k) => {
    const [key, dflt] = bindArgs('get', ['key', 'default'], [REQUIRED, null], a, k, false);
    return typeof key === 'string' && Object.hasOwn(d, key) && d[key] !== undefined ? d[key] : dflt;
  },
};

const PY_INT = /^[+-]?\d+(?:_\d+)*$/;
const PY_FLOAT = /^[+-]?(?:(?:\d+(?:_\d+)*)?\.\d+(?:_\d+)*|\d+(?:_\d+)*\.?)(?:[eE][+-]?\d+(?:_\d+)*)?$/;
const PY_FLOAT_SPECIAL = /^[+-]?(?:inf|infinity|nan)$/i;

/** Jinja's `int` filter: int(value), else int(float(value)), else the default. */
function intFilter(value: unknown, dflt: unknown, base: unknown): unknown {
  if (needInt('int', base) !== 10) throw new PyError('int filter: only base 10 is supported');
  if (isUndef(value)) throw new PyError(undefHint(value)); // Undefined.__int__ raises
  let f: number;
  if (typeof value === 'string') {
    const text = value.replace(LEADING_WS, '').replace(TRAILING_WS, '');
    if (PY_INT.test(text)) return Number(text.replace(/_/g, ''));
    if (!PY_FLOAT.test(text) && !PY_FLOAT_SPECIAL.test(text)) return dflt;
    f = /inf/i.test(text) ? (text.startsWith('-') ? -Infinity : Infinity) : Number(text.replace(/_/g, ''));
  } else {
    const n = numberOf(value);
    if (n === undefined) return dflt; // None, lists, dicts: TypeError → default
    f = n;
  }
  if (Number.isNaN(f)) return dflt; // ValueError → default
  if (!Number.isFinite(f)) throw new PyError('cannot convert float infinity to integer'); // OverflowError is not caught by Jinja
  return Math.trunc(f) + 0; // + 0 turns -0 into 0
}

type Filter = (value: unknown, args: unknown[], kwargs: Kwargs) => unknown;

const lengthFilter: Filter = (v, a, k) => (bindArgs('length', [], [], a, k), pyLen(v));
const defaultFilter: Filter = (v, a, k) => {
  const [dflt, boolean] = bindArgs('default', ['default_value', 'boolean'], ['', false], a, k);
  return isUndef(v) || (truthy(boolean) && !truthy(v)) ? dflt : v;
};

// Jinja's filters that take strings apply str() first, which makes Undefined '' (soft_str).
const FILTERS: Record<string, Filter> = {
  length: lengthFilter,
  count: lengthFilter,
  join: (v, a, k) => {
    const [sep, attribute] = bindArgs('join', ['d', 'attribute'], ['', null], a, k);
    if (attribute !== null) throw new PyError('join(attribute=...) is not supported');
    return iterate(v).map(pyStr).join(pyStr(sep));
  },
  default: defaultFilter,
  d: defaultFilter,
  lower: (v, a, k) => (bindArgs('lower', [], [], a, k), pyStr(v).toLowerCase()),
  upper: (v, a, k) => (bindArgs('upper', [], [], a, k), pyStr(v).toUpperCase()),
  trim: (v, a, k) => pyStrip(pyStr(v), bindArgs('trim', ['chars'], [null], a, k)[0], 'both', 'trim'),
  string: (v, a, k) => (bindArgs('string', [], [], a, k), pyStr(v)),
  int: (v, a, k) => {
    const [dflt, base] = bindArgs('int', ['default', 'base'], [0, 10], a, k);
    return intFilter(v, dflt, base);
  },
};

const TESTS: Record<string, (v: unknown) => boolean> = {
  defined: (v) => !isUndef(v),
  undefined: (v) => isUndef(v),
  none: (v) => v === null,
};

// ---------------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------------

type TokType = 'text' | 'var_begin' | 'var_end' | 'block_begin' | 'block_end' | 'name' | 'string' | 'int' | 'float' | 'op';
interface Token {
  type: TokType;
  value: string;
  line: number;
}

const TAG_START = /\{[{%#]/g;
const NAME = /[a-zA-Z_][a-zA-Z0-9_]*/y;
const INT = /\d+(?:_\d+)*/y;
const FLOAT = /\d+(?:_\d+)*(?:(?:\.\d+(?:_\d+)*)?[eE][+-]?\d+(?:_\d+)*|\.\d+(?:_\d+)*)/y;
const STRING = /'([^'\\]*(?:\\.[^'\\]*)*)'|"([^"\\]*(?:\\.[^"\\]*)*)"/sy;
const OPERATORS = ['//', '**', '==', '!=', '<=', '>=', '+', '-', '/', '*', '%', '~', '[', ']', '(', ')', '{', '}', '<', '>', '=', '.', ':', '|', ',', ';'];
const CLOSING: Record<string, string> = { ')': '(', ']': '[', '}': '{' };

const SIMPLE_ESCAPES: Record<string, string> = { '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\n': '' };

/** Decodes a string literal's escapes like Python's unicode-escape codec (what Jinja uses); unknown escapes such as `\d` stay as written. */
function decodeEscapes(raw: string): string {
  return raw.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{1,3}|[xuUN]|[\s\S])/g, (whole, esc: string) => {
    if (Object.hasOwn(SIMPLE_ESCAPES, esc)) return SIMPLE_ESCAPES[esc];
    if (/^[0-7]/.test(esc)) return String.fromCodePoint(parseInt(esc, 8));
    if (esc.length > 1) return String.fromCodePoint(parseInt(esc.slice(1), 16));
    if ('xuUN'.includes(esc)) throw new PyError(`unsupported or truncated \\${esc} escape in string literal`);
    return whole;
  });
}

function tokenize(source: string, templateName: string): { tokens: Token[]; endLine: number } {
  // Like Jinja: every newline sequence becomes '\n', and one trailing newline is dropped (keep_trailing_newline=False).
  const lines = source.split(/\r\n|\r|\n/);
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  const src = lines.join('\n');

  const tokens: Token[] = [];
  let pos = 0;
  let line = 1;
  let lstripNext = false; // the previous tag ended with '-': strip the whitespace that follows it
  const fail = (reason: string): never => {
    throw new TemplateError(templateName, line, reason);
  };
  const advance = (to: number) => {
    for (let i = pos; i < to; i++) if (src[i] === '\n') line++;
    pos = to;
  };

  while (pos <= src.length) {
    TAG_START.lastIndex = pos;
    const m = TAG_START.exec(src);
    const tagAt = m ? m.index : src.length;
    let text = src.slice(pos, tagAt);
    if (lstripNext) text = text.replace(LEADING_WS, '');
    // `{%-` / `{{-` / `{#-` strip ALL whitespace before the tag, newlines included (Python's rstrip()).
    if (m && src[tagAt + 2] === '-') text = text.replace(TRAILING_WS, '');
    if (text) tokens.push({ type: 'text', value: text, line });
    advance(tagAt);
    lstripNext = false;
    if (!m) break;

    const kind = m[0][1];
    // '-' trims, '+' only matters with lstrip_blocks (off by default): accepted and ignored.
    const bodyAt = tagAt + 2 + ('-+'.includes(src[tagAt + 2] ?? '') ? 1 : 0);

    if (kind === '#') {
      const end = src.indexOf('#}', bodyAt);
      if (end < 0) fail('missing end of comment tag');
      if (end > bodyAt && src[end - 1] === '-') lstripNext = true;
      advance(end + 2);
      continue;
    }

    const isVar = kind === '{';
    const close = isVar ? '}}' : '%}';
    tokens.push({ type: isVar ? 'var_begin' : 'block_begin', value: '', line });
    advance(bodyAt);
    const brackets: string[] = [];
    for (;;) {
      WS_AT.lastIndex = pos;
      advance(pos + WS_AT.exec(src)![0].length);
      if (pos >= src.length) fail(`unexpected end of template, expected '${close}'`);
      // The closing delimiter only counts outside brackets, so `{{ {'a': {'b': 1}} }}` works.
      if (brackets.length === 0) {
        const trim = src.startsWith(`-${close}`, pos);
        if (trim || src.startsWith(close, pos) || (!isVar && src.startsWith('+%}', pos))) {
          tokens.push({ type: isVar ? 'var_end' : 'block_end', value: '', line });
          lstripNext = trim;
          advance(pos + close.length + (src[pos] === '-' || src[pos] === '+' ? 1 : 0));
          break;
        }
      }
      const match = (re: RegExp): string | undefined => {
        re.lastIndex = pos;
        return re.exec(src)?.[0];
      };
      let value: string | undefined;
      let type: TokType;
      // A float may not follow a '.': `a.0.1` is a.0 then .1, not a then 0.1.
      if (src[pos - 1] !== '.' && (value = match(FLOAT))) type = 'float';
      else if ((value = match(INT))) type = 'int';
      else if ((value = match(NAME))) type = 'name';
      else if ((value = match(STRING))) type = 'string';
      else if ((value = OPERATORS.find((op) => src.startsWith(op, pos)))) type = 'op';
      else return fail(`unexpected character ${JSON.stringify(src[pos])}`);

      if (type === 'op') {
        if ('([{'.includes(value)) brackets.push(value);
        else if (CLOSING[value]) {
          if (brackets.pop() !== CLOSING[value]) fail(`unexpected '${value}'`);
        }
      }
      let decoded = value;
      if (type === 'string') {
        try {
          decoded = decodeEscapes(value.slice(1, -1));
        } catch (e) {
          fail((e as Error).message);
        }
      }
      tokens.push({ type, value: decoded, line });
      advance(pos + value.length);
    }
  }
  return { tokens, endLine: line };
}

// ---------------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------------

type CompareOp = '==' | '!=' | '<' | '>' | '<=' | '>=' | 'in' | 'not in';

type Expr = { line: number } & (
  | { k: 'const'; value: unknown }
  | { k: 'name'; name: string }
  | { k: 'list' | 'tuple'; items: Expr[] }
  | { k: 'dict'; pairs: [Expr, Expr][] }
  | { k: 'getattr'; obj: Expr; attr: string }
  | { k: 'getitem'; obj: Expr; key: Expr }
  | { k: 'call'; fn: Expr; args: Expr[]; kwargs: [string, Expr][] }
  | { k: 'filter'; name: string; value: Expr; args: Expr[]; kwargs: [string, Expr][] }
  | { k: 'test'; name: string; value: Expr; negate: boolean }
  | { k: 'not' | 'neg' | 'pos'; value: Expr }
  | { k: 'and' | 'or'; left: Expr; right: Expr }
  | { k: 'compare'; first: Expr; ops: [CompareOp, Expr][] }
  | { k: 'cond'; test: Expr; then: Expr; otherwise?: Expr }
);

/** Assignment target of for/set: one name, or several unpacked from each value. */
interface Target {
  names: string[];
  unpack: boolean;
}

type Stmt =
  | { k: 'text'; value: string }
  | { k: 'output'; line: number; expr: Expr }
  | { k: 'if'; line: number; branches: { test: Expr; body: Stmt[] }[]; otherwise: Stmt[] }
  | { k: 'for'; line: number; target: Target; iter: Expr; body: Stmt[]; otherwise: Stmt[] }
  | { k: 'set'; line: number; target: Target; value: Expr };

/** Jinja tags this renderer knows but does not implement (anything else is an unknown tag). */
const UNSUPPORTED_TAGS = new Set(['macro', 'call', 'filter', 'block', 'extends', 'include', 'import', 'from', 'raw', 'with', 'autoescape', 'do', 'break', 'continue', 'trans']);
const LITERALS: Record<string, unknown> = { true: true, false: false, none: null, True: true, False: false, None: null };
const ARITHMETIC = new Set(['+', '-', '*', '/', '//', '%', '**', '~']);

class Parser {
  private i = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly templateName: string,
    private readonly endLine: number,
  ) {}

  private get tok(): Token | undefined {
    return this.tokens[this.i];
  }

  private get line(): number {
    return this.tok?.line ?? this.endLine;
  }

  private fail(reason: string, line = this.line): never {
    throw new TemplateError(this.templateName, line, reason);
  }

  private describe(t: Token | undefined): string {
    if (!t) return 'end of template';
    if (t.type === 'var_end') return "end of print statement '}}'";
    if (t.type === 'block_end') return "end of statement block '%}'";
    return t.type === 'string' ? `string ${strRepr(t.value)}` : `'${t.value}'`;
  }

  private isOp(value: string): boolean {
    return this.tok?.type === 'op' && this.tok.value === value;
  }

  private isName(value?: string): boolean {
    return this.tok?.type === 'name' && (value === undefined || this.tok.value === value);
  }

  private expectOp(value: string): void {
    if (!this.isOp(value)) this.fail(`expected '${value}', got ${this.describe(this.tok)}`);
    this.i++;
  }

  private expectName(): string {
    if (!this.isName()) this.fail(`expected a name, got ${this.describe(this.tok)}`);
    return this.tokens[this.i++].value;
  }

  private expectType(type: TokType, what: string): void {
    if (this.tok?.type !== type) this.fail(`expected ${what}, got ${this.describe(this.tok)}`);
    this.i++;
  }

  /** The whole template. */
  parseTemplate(): Stmt[] {
    const { body } = this.parseBody([]);
    return body;
  }

  /** Statements up to one of the `ends` tags (which is left for the caller, after its name). */
  private parseBody(ends: string[], opener?: { tag: string; line: number }): { body: Stmt[]; end: string } {
    const body: Stmt[] = [];
    for (;;) {
      const t = this.tok;
      if (!t) {
        if (opener) this.fail(`unexpected end of template: "${opener.tag}" opened on line ${opener.line} needs one of ${ends.map((e) => `"${e}"`).join(', ')}`);
        return { body, end: '' };
      }
      if (t.type === 'text') {
        body.push({ k: 'text', value: t.value });
        this.i++;
      } else if (t.type === 'var_begin') {
        this.i++;
        const expr = this.parseTuple();
        this.expectType('var_end', "end of print statement '}}'");
        body.push({ k: 'output', line: t.line, expr });
      } else if (t.type === 'block_begin') {
        this.i++;
        const line = this.line;
        const tag = this.expectName();
        if (ends.includes(tag)) return { body, end: tag };
        if (tag === 'if') body.push(this.parseIf(line));
        else if (tag === 'for') body.push(this.parseFor(line));
        else if (tag === 'set') body.push(this.parseSet(line));
        else if (UNSUPPORTED_TAGS.has(tag)) this.fail(`unsupported tag "${tag}"`, line);
        else this.fail(opener && /^(end|elif$|else$)/.test(tag) ? `unexpected "${tag}" inside "${opener.tag}" (expected ${ends.map((e) => `"${e}"`).join(', ')})` : `unknown tag "${tag}"`, line);
      } else this.fail(`unexpected ${this.describe(t)}`);
    }
  }

  private endTag(): void {
    this.expectType('block_end', "end of statement block '%}'");
  }

  private parseIf(line: number): Stmt {
    const branches: { test: Expr; body: Stmt[] }[] = [];
    let test = this.parseTuple(false);
    for (;;) {
      this.endTag();
      const { body, end } = this.parseBody(['elif', 'else', 'endif'], { tag: 'if', line });
      branches.push({ test, body });
      if (end === 'elif') {
        test = this.parseTuple(false);
        continue;
      }
      let otherwise: Stmt[] = [];
      if (end === 'else') {
        this.endTag();
        otherwise = this.parseBody(['endif'], { tag: 'if', line }).body;
      }
      this.endTag();
      return { k: 'if', line, branches, otherwise };
    }
  }

  private parseFor(line: number): Stmt {
    const target = this.parseTarget();
    if (!this.isName('in')) this.fail(`expected 'in', got ${this.describe(this.tok)}`);
    this.i++;
    const iter = this.parseTuple(false);
    if (this.isName('if')) this.fail('loop filters ("for … if …") are not supported');
    if (this.isName('recursive')) this.fail('recursive loops are not supported');
    this.endTag();
    const { body, end } = this.parseBody(['else', 'endfor'], { tag: 'for', line });
    let otherwise: Stmt[] = [];
    if (end === 'else') {
      this.endTag();
      otherwise = this.parseBody(['endfor'], { tag: 'for', line }).body;
    }
    this.endTag();
    return { k: 'for', line, target, iter, body, otherwise };
  }

  private parseSet(line: number): Stmt {
    const target = this.parseTarget();
    if (this.tok?.type === 'block_end') this.fail('block assignments ("{% set x %}…{% endset %}") are not supported');
    this.expectOp('=');
    const value = this.parseTuple();
    this.endTag();
    return { k: 'set', line, target, value };
  }

  /** `a`, `a, b`, `(a, b)`. */
  private parseTarget(): Target {
    const parens = this.isOp('(');
    if (parens) this.i++;
    const names: string[] = [];
    let unpack = parens;
    for (;;) {
      const name = this.expectName();
      if (name in LITERALS) this.fail(`cannot assign to ${name}`);
      names.push(name);
      if (!this.isOp(',')) break;
      this.i++;
      unpack = true;
      if (!this.isName()) break; // trailing comma
    }
    if (parens) this.expectOp(')');
    return { names, unpack };
  }

  /** Expressions separated by commas make a tuple: `{{ 1, 2 }}` prints (1, 2). */
  private parseTuple(withCondexpr = true, explicitParens = false): Expr {
    const line = this.line;
    const items: Expr[] = [];
    let isTuple = false;
    for (;;) {
      if (items.length) this.expectOp(',');
      const t = this.tok;
      if (!t || t.type === 'var_end' || t.type === 'block_end' || this.isOp(')')) break;
      items.push(withCondexpr ? this.parseCondexpr() : this.parseOr());
      if (this.isOp(',')) isTuple = true;
      else break;
    }
    if (!isTuple && items.length === 1) return items[0];
    if (!isTuple && !explicitParens) this.fail(`expected an expression, got ${this.describe(this.tok)}`);
    return { k: 'tuple', line, items };
  }

  private parseExpression(): Expr {
    return this.parseCondexpr();
  }

  /** `a if cond else b`; without `else` the value is Undefined when cond is false. */
  private parseCondexpr(): Expr {
    let expr = this.parseOr();
    while (this.isName('if')) {
      const line = this.line;
      this.i++;
      const test = this.parseOr();
      let otherwise: Expr | undefined;
      if (this.isName('else')) {
        this.i++;
        otherwise = this.parseCondexpr();
      }
      expr = { k: 'cond', line, test, then: expr, otherwise };
    }
    return expr;
  }

  private parseOr(): Expr {
    let left = this.parseAnd();
    while (this.isName('or')) {
      const line = this.line;
      this.i++;
      left = { k: 'or', line, left, right: this.parseAnd() };
    }
    return left;
  }

  private parseAnd(): Expr {
    let left = this.parseNot();
    while (this.isName('and')) {
      const line = this.line;
      this.i++;
      left = { k: 'and', line, left, right: this.parseNot() };
    }
    return left;
  }

  private parseNot(): Expr {
    if (this.isName('not')) {
      const line = this.line;
      this.i++;
      return { k: 'not', line, value: this.parseNot() };
    }
    return this.parseCompare();
  }

  private parseCompare(): Expr {
    const line = this.line;
    const first = this.parseOperand();
    const ops: [CompareOp, Expr][] = [];
    for (;;) {
      const t = this.tok;
      let op: CompareOp | undefined;
      if (t?.type === 'op' && ['==', '!=', '<', '>', '<=', '>='].includes(t.value)) op = t.value as CompareOp;
      else if (this.isName('in')) op = 'in';
      else if (this.isName('not') && this.tokens[this.i + 1]?.type === 'name' && this.tokens[this.i + 1].value === 'in') {
        op = 'not in';
        this.i++;
      }
      if (!op) break;
      this.i++;
      ops.push([op, this.parseOperand()]);
    }
    return ops.length ? { k: 'compare', line, first, ops } : first;
  }

  /** Where Jinja parses arithmetic; this renderer has none, so say so instead of a vague syntax error. */
  private parseOperand(): Expr {
    const expr = this.parseUnary(true);
    if (this.tok?.type === 'op' && ARITHMETIC.has(this.tok.value)) this.fail(`operator '${this.tok.value}' is not supported`);
    return expr;
  }

  private parseUnary(withFilter: boolean): Expr {
    const line = this.line;
    let node: Expr;
    if (this.isOp('-') || this.isOp('+')) {
      const k = this.tok!.value === '-' ? 'neg' : 'pos';
      this.i++;
      node = { k, line, value: this.parseUnary(false) };
    } else node = this.parsePrimary();
    node = this.parsePostfix(node);
    return withFilter ? this.parseFilters(node) : node;
  }

  private parsePrimary(): Expr {
    const t = this.tok;
    const line = this.line;
    if (!t) return this.fail('unexpected end of template');
    if (t.type === 'name') {
      this.i++;
      return t.value in LITERALS ? { k: 'const', line, value: LITERALS[t.value] } : { k: 'name', line, name: t.value };
    }
    if (t.type === 'string') {
      // Adjacent string literals are concatenated, as in Python.
      let value = '';
      while (this.tok?.type === 'string') value += this.tokens[this.i++].value;
      return { k: 'const', line, value };
    }
    if (t.type === 'int') {
      const value = Number(t.value.replace(/_/g, ''));
      // Python ints are unbounded; a JS number would silently round this one.
      if (!Number.isSafeInteger(value)) this.fail(`integer literal ${t.value} is too large`);
      this.i++;
      return { k: 'const', line, value };
    }
    if (t.type === 'float') {
      this.i++;
      return { k: 'const', line, value: new PyFloat(Number(t.value.replace(/_/g, ''))) };
    }
    if (this.isOp('(')) {
      this.i++;
      const expr = this.parseTuple(true, true);
      this.expectOp(')');
      return expr;
    }
    if (this.isOp('[')) {
      this.i++;
      const items: Expr[] = [];
      while (!this.isOp(']')) {
        if (items.length) this.expectOp(',');
        if (this.isOp(']')) break; // trailing comma
        items.push(this.parseExpression());
      }
      this.i++;
      return { k: 'list', line, items };
    }
    if (this.isOp('{')) {
      this.i++;
      const pairs: [Expr, Expr][] = [];
      while (!this.isOp('}')) {
        if (pairs.length) this.expectOp(',');
        if (this.isOp('}')) break;
        const key = this.parseExpression();
        this.expectOp(':');
        pairs.push([key, this.parseExpression()]);
      }
      this.i++;
      return { k: 'dict', line, pairs };
    }
    return this.fail(`expected an expression, got ${this.describe(t)}`);
  }

  /** `.attr`, `.0`, `[key]` and calls. */
  private parsePostfix(node: Expr): Expr {
    for (;;) {
      const line = this.line;
      if (this.isOp('.')) {
        this.i++;
        const t = this.tok;
        if (t?.type === 'name') node = { k: 'getattr', line, obj: node, attr: t.value };
        else if (t?.type === 'int') node = { k: 'getitem', line, obj: node, key: { k: 'const', line, value: Number(t.value) } };
        else this.fail(`expected a name or a number after '.', got ${this.describe(t)}`);
        this.i++;
      } else if (this.isOp('[')) {
        this.i++;
        const key = this.parseTuple(true, true);
        if (this.isOp(':')) this.fail('slices are not supported');
        this.expectOp(']');
        node = { k: 'getitem', line, obj: node, key };
      } else if (this.isOp('(')) {
        node = { k: 'call', line, fn: node, ...this.parseArgs() };
      } else return node;
    }
  }

  /** `|filter(args)`, `is [not] test`, and calls on their results. */
  private parseFilters(node: Expr): Expr {
    for (;;) {
      const line = this.line;
      if (this.isOp('|')) {
        this.i++;
        const name = this.expectName();
        if (!Object.hasOwn(FILTERS, name)) this.fail(`unknown filter "${name}"`, line);
        const { args, kwargs } = this.isOp('(') ? this.parseArgs() : { args: [], kwargs: [] };
        node = { k: 'filter', line, name, value: node, args, kwargs };
      } else if (this.isName('is')) {
        this.i++;
        const negate = this.isName('not');
        if (negate) this.i++;
        const name = this.expectName();
        if (!Object.hasOwn(TESTS, name)) this.fail(`unknown test "${name}"`, line);
        node = { k: 'test', line, name, value: node, negate };
      } else if (this.isOp('(')) {
        node = { k: 'call', line, fn: node, ...this.parseArgs() };
      } else return node;
    }
  }

  private parseArgs(): { args: Expr[]; kwargs: [string, Expr][] } {
    this.expectOp('(');
    const args: Expr[] = [];
    const kwargs: [string, Expr][] = [];
    while (!this.isOp(')')) {
      if (args.length || kwargs.length) this.expectOp(',');
      if (this.isOp(')')) break;
      if (this.isOp('*') || this.isOp('**')) this.fail('*args and **kwargs are not supported');
      const next = this.tokens[this.i + 1];
      if (this.isName() && next?.type === 'op' && next.value === '=') {
        const name = this.tokens[this.i].value;
        this.i += 2;
        kwargs.push([name, this.parseExpression()]);
      } else {
        if (kwargs.length) this.fail('positional argument follows keyword argument');
        args.push(this.parseExpression());
      }
    }
    this.i++;
    return { args, kwargs };
  }
}

// ---------------------------------------------------------------------------------------------------
// Evaluator
// ---------------------------------------------------------------------------------------------------

/** Variables: each for-loop iteration gets a child scope, so a `set` inside a loop does not leak out (Jinja's scoping). */
class Scope {
  private readonly vars = new Map<string, unknown>();
  constructor(
    private readonly parent?: Scope,
    private readonly context?: Record<string, unknown>,
  ) {}

  lookup(name: string): unknown {
    if (this.vars.has(name)) return this.vars.get(name);
    if (this.context && Object.hasOwn(this.context, name)) return this.context[name];
    return this.parent?.lookup(name);
  }

  set(name: string, value: unknown): void {
    this.vars.set(name, value);
  }
}

class Renderer {
  constructor(private readonly templateName: string) {}

  render(stmts: Stmt[], scope: Scope, out: string[]): void {
    for (const s of stmts) {
      switch (s.k) {
        case 'text':
          out.push(s.value);
          break;
        case 'output':
          out.push(pyStr(this.eval(s.expr, scope)));
          break;
        case 'if': {
          const branch = s.branches.find((b) => truthy(this.eval(b.test, scope)));
          this.render(branch ? branch.body : s.otherwise, scope, out);
          break;
        }
        case 'for': {
          const items = this.guard(s.line, () => iterate(this.eval(s.iter, scope)));
          items.forEach((item, index) => {
            const inner = new Scope(scope);
            this.assign(s.target, item, inner, s.line);
            inner.set('loop', new LoopContext(index, items));
            this.render(s.body, inner, out);
          });
          if (items.length === 0) this.render(s.otherwise, new Scope(scope), out);
          break;
        }
        case 'set':
          this.assign(s.target, this.eval(s.value, scope), scope, s.line);
          break;
      }
    }
  }

  private assign(target: Target, value: unknown, scope: Scope, line: number): void {
    if (!target.unpack) {
      scope.set(target.names[0], value);
      return;
    }
    const values = this.guard(line, () => iterate(value));
    const n = target.names.length;
    if (values.length !== n) {
      const reason = values.length > n ? `too many values to unpack (expected ${n})` : `not enough values to unpack (expected ${n}, got ${values.length})`;
      throw new TemplateError(this.templateName, line, reason);
    }
    target.names.forEach((name, i) => scope.set(name, values[i]));
  }

  /** Runs `fn`, turning a Python-level error into a TemplateError that names the line. */
  private guard<T>(line: number, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof PyError) throw new TemplateError(this.templateName, line, e.message);
      throw e;
    }
  }

  private eval(e: Expr, scope: Scope): unknown {
    return this.guard(e.line, () => this.evalUnguarded(e, scope));
  }

  private evalArgs(args: Expr[], kwargs: [string, Expr][], scope: Scope): [unknown[], Kwargs] {
    return [args.map((a) => this.eval(a, scope)), Object.fromEntries(kwargs.map(([k, v]) => [k, this.eval(v, scope)]))];
  }

  private evalUnguarded(e: Expr, scope: Scope): unknown {
    switch (e.k) {
      case 'const':
        return e.value;
      case 'name': {
        const v = scope.lookup(e.name);
        return v === undefined ? new Undefined(`'${e.name}' is undefined`) : v;
      }
      case 'list':
        return e.items.map((x) => this.eval(x, scope));
      case 'tuple':
        return new PyTuple(e.items.map((x) => this.eval(x, scope)));
      case 'dict': {
        const d: Dict = {};
        for (const [k, v] of e.pairs) {
          const key = this.eval(k, scope);
          if (typeof key !== 'string') throw new PyError(`dict literal keys must be strings here, got ${typeName(key)}`);
          d[key] = this.eval(v, scope);
        }
        return d;
      }
      case 'getattr':
        return getAttr(this.eval(e.obj, scope), e.attr);
      case 'getitem':
        return getItem(this.eval(e.obj, scope), this.eval(e.key, scope));
      case 'call': {
        const fn = this.eval(e.fn, scope);
        const [args, kwargs] = this.evalArgs(e.args, e.kwargs, scope);
        return callValue(fn, args, kwargs);
      }
      case 'filter': {
        const value = this.eval(e.value, scope);
        const [args, kwargs] = this.evalArgs(e.args, e.kwargs, scope);
        return FILTERS[e.name](value, args, kwargs);
      }
      case 'test':
        return TESTS[e.name](this.eval(e.value, scope)) !== e.negate;
      case 'not':
        return !truthy(this.eval(e.value, scope));
      case 'neg':
      case 'pos':
        return unary(e.k, this.eval(e.value, scope));
      case 'and': {
        // Python's and/or return an operand, not a bool: `x or '3.11'` is a default.
        const left = this.eval(e.left, scope);
        return truthy(left) ? this.eval(e.right, scope) : left;
      }
      case 'or': {
        const left = this.eval(e.left, scope);
        return truthy(left) ? left : this.eval(e.right, scope);
      }
      case 'compare': {
        // Chained like Python: a < b < c means a < b and b < c.
        let left = this.eval(e.first, scope);
        for (const [op, rightExpr] of e.ops) {
          const right = this.eval(rightExpr, scope);
          if (!compare(op, left, right)) return false;
          left = right;
        }
        return true;
      }
      case 'cond':
        if (truthy(this.eval(e.test, scope))) return this.eval(e.then, scope);
        return e.otherwise ? this.eval(e.otherwise, scope) : new Undefined('the inline if-expression evaluated to false and no else section was defined');
    }
  }
}

function compare(op: CompareOp, a: unknown, b: unknown): boolean {
  switch (op) {
    case '==':
      return pyEq(a, b);
    case '!=':
      return !pyEq(a, b);
    case 'in':
      return pyIn(a, b);
    case 'not in':
      return !pyIn(a, b);
    default:
      return pyOrder(op, a, b);
  }
}

function unary(k: 'neg' | 'pos', v: unknown): unknown {
  if (isUndef(v)) throw new PyError(undefHint(v));
  const n = numberOf(v);
  if (n === undefined) throw new PyError(`bad operand type for unary ${k === 'neg' ? '-' : '+'}: '${typeName(v)}'`);
  const result = k === 'neg' ? -n : n;
  return v instanceof PyFloat ? new PyFloat(result) : result + 0; // an int -0 is just 0
}

function callValue(fn: unknown, args: unknown[], kwargs: Kwargs): unknown {
  if (isUndef(fn)) throw new PyError(undefHint(fn));
  if (fn instanceof Builtin) return fn.call(args, kwargs);
  if (typeof fn === 'function') {
    if (Object.keys(kwargs).length) throw new PyError(`keyword arguments are not supported when calling ${fn.name.replace(/^bound /, '')}()`);
    const result: unknown = fn(...args);
    return result === undefined ? new Undefined(`${fn.name.replace(/^bound /, '')}() returned undefined`) : result;
  }
  throw new PyError(`'${typeName(fn)}' object is not callable`);
}

/**
 * Renders a Jinja2 template exactly as `jinja2.Template(source).render(**context)` would (for the
 * supported subset). Throws TemplateError, naming `templateName` and the line, on syntax errors,
 * unsupported features and Python-level errors (e.g. an attribute of an undefined variable).
 */
export function renderTemplate(source: string, context: Record<string, unknown>, templateName = '<template>'): string {
  const { tokens, endLine } = tokenize(source, templateName);
  const stmts = new Parser(tokens, templateName, endLine).parseTemplate();
  const out: string[] = [];
  new Renderer(templateName).render(stmts, new Scope(undefined, context), out);
  return out.join('');
}
