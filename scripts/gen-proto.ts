/**
 * Generates src/generated/databuild.ts from proto/databuild.proto: plain TypeScript types in the
 * proto3 JSON shape (lowerCamelCase fields, enums as lower-case strings without their prefix, the
 * PartitionRef wrapper as a string, a oneof as a `type` + `payload` pair).
 *
 *   npx tsx scripts/gen-proto.ts           write the file
 *   npx tsx scripts/gen-proto.ts --check   exit 1 when the file on disk is stale
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import protobuf from 'protobufjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const protoPath = path.join(root, 'proto', 'databuild.proto');
export const outputPath = path.join(root, 'src', 'generated', 'databuild.ts');

/** Messages with a single string field that are written as that string. */
const STRING_WRAPPERS = new Set(['PartitionRef']);

const SCALARS: Record<string, string> = {
  string: 'string',
  bytes: 'string',
  bool: 'boolean',
  double: 'number',
  float: 'number',
  int32: 'number',
  int64: 'number',
  uint32: 'number',
  uint64: 'number',
  sint32: 'number',
  sint64: 'number',
  fixed32: 'number',
  fixed64: 'number',
  sfixed32: 'number',
  sfixed64: 'number',
};

/** proto3 JSON name: `task_id` -> `taskId` (an explicit json_name option wins). */
const jsonName = (field: protobuf.Field): string => {
  const explicit: unknown = field.options?.json_name;
  if (typeof explicit === 'string') return explicit;
  return field.name.replace(/_([a-zA-Z0-9])/g, (_m, c: string) => c.toUpperCase());
};

/** `BuildRequestStatus` -> `BUILD_REQUEST_STATUS`. */
const upperSnake = (name: string) =>
  name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1_$2')
    .toUpperCase();

const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * A proto comment as TypeScript: section dividers ("---- job.exec ----", which protobufjs attaches to
 * the next declaration) become line comments, the rest becomes a doc comment.
 */
function comment(text: string | null | undefined, indent = ''): string {
  if (!text) return '';
  const lines = text.split('\n').map((l) => l.trimEnd());
  const sections = lines.filter((l) => /^-{3,}/.test(l.trim()));
  const body = lines.filter((l) => !/^-{3,}/.test(l.trim()));
  while (body.length && !body[0].trim()) body.shift();
  while (body.length && !body[body.length - 1].trim()) body.pop();
  let out = sections.map((l) => `${indent}// ${l.trim()}\n\n`).join('');
  if (body.length) {
    const safe = body.map((l) => l.replace(/\*\//g, '*\\/'));
    out +=
      safe.length === 1
        ? `${indent}/** ${safe[0]} */\n`
        : `${indent}/**\n${safe.map((l) => (l ? `${indent} * ${l}` : `${indent} *`)).join('\n')}\n${indent} */\n`;
  }
  return out;
}

/** The innermost namespace that holds the declarations (the proto package). */
function packageOf(ns: protobuf.NamespaceBase): protobuf.NamespaceBase {
  let current = ns;
  for (;;) {
    const nested = current.nestedArray;
    const only = nested.length === 1 ? nested[0] : undefined;
    if (!(only instanceof protobuf.Namespace) || only instanceof protobuf.Type || only instanceof protobuf.Service) return current;
    current = only;
  }
}

/** A oneof that protobufjs synthesises for a proto3 `optional` field is not a real oneof. */
const isSynthetic = (oneof: protobuf.OneOf) =>
  oneof.fieldsArray.length === 1 && oneof.fieldsArray[0].options?.proto3_optional === true;

function tsType(field: protobuf.Field): string {
  const scalar = SCALARS[field.type];
  if (scalar) return scalar;
  const resolved = field.resolvedType;
  if (!resolved) throw new Error(`${field.fullName}: unresolved type ${field.type}`);
  if (resolved.parent !== field.parent?.parent)
    throw new Error(`${field.fullName}: ${resolved.fullName} is not a top-level declaration of the same package`);
  return resolved.name;
}

function enumDecl(e: protobuf.Enum): string {
  const prefix = `${upperSnake(e.name)}_`;
  const values: string[] = [];
  const docs: string[] = [];
  for (const [name, number] of Object.entries(e.values)) {
    if (number === 0) {
      if (name !== `${prefix}UNSPECIFIED`) throw new Error(`${e.fullName}: value 0 must be ${prefix}UNSPECIFIED, not ${name}`);
      continue;
    }
    if (!name.startsWith(prefix)) throw new Error(`${e.fullName}: value ${name} lacks the ${prefix} prefix`);
    const value = name.slice(prefix.length).toLowerCase();
    values.push(value);
    const valueComment = e.comments[name];
    if (valueComment) docs.push(`- \`${value}\`: ${valueComment.replace(/\s*\n\s*/g, ' ')}`);
  }
  const text = [e.comment, docs.length ? docs.join('\n') : null].filter((t): t is string => !!t).join('\n\n');
  return (
    `${comment(text)}export const ${e.name} = [${values.map(quote).join(', ')}] as const;\n` +
    `export type ${e.name} = (typeof ${e.name})[number];\n`
  );
}

function fieldDecl(field: protobuf.Field): string {
  const name = jsonName(field);
  let decl: string;
  if (field.map) {
    decl = `${name}: Record<string, ${tsType(field)}>;`;
  } else if (field.repeated) {
    decl = `${name}: ${tsType(field)}[];`;
  } else {
    const type = tsType(field);
    const isMessage = field.resolvedType instanceof protobuf.Type && !STRING_WRAPPERS.has(field.resolvedType.name);
    const optional = isMessage || field.options?.proto3_optional === true;
    decl = `${name}${optional ? '?' : ''}: ${type};`;
  }
  return `${comment(field.comment, '  ')}  ${decl}\n`;
}

function messageDecl(t: protobuf.Type): string {
  if (t.nestedArray.length) throw new Error(`${t.fullName}: nested declarations are not supported`);
  if (STRING_WRAPPERS.has(t.name)) {
    const fields = t.fieldsArray;
    if (fields.length !== 1 || fields[0].type !== 'string' || fields[0].repeated)
      throw new Error(`${t.fullName}: a string wrapper must have exactly one string field`);
    return `${comment(t.comment)}export type ${t.name} = string;\n`;
  }

  const oneofs = t.oneofsArray.filter((o) => !isSynthetic(o));
  if (oneofs.length > 1) throw new Error(`${t.fullName}: at most one oneof per message is supported`);
  const oneof = oneofs[0];
  const common = t.fieldsArray.filter((f) => !oneof || f.partOf !== oneof);
  let body = common.map(fieldDecl).join('');
  if (!oneof) return `${comment(t.comment)}export interface ${t.name} {\n${body}}\n`;

  const payloads = `${t.name}Payloads`;
  const typeName = `${t.name}Type`;
  for (const clash of ['type', 'payload'])
    if (common.some((f) => jsonName(f) === clash))
      throw new Error(`${t.fullName}: field "${clash}" clashes with the oneof's ${clash}`);
  body +=
    `  /** Which member of the \`${oneof.name}\` oneof this ${t.name} carries. */\n` +
    `  type: ${typeName};\n` +
    `  payload: ${payloads}[${typeName}];\n`;
  const members = oneof.fieldsArray;
  return (
    `${comment(t.comment)}export interface ${t.name} {\n${body}}\n` +
    `\n/** The members of the \`${t.name}.${oneof.name}\` oneof, keyed by their proto names. */\n` +
    `export interface ${payloads} {\n${members.map((m) => `${comment(m.comment, '  ')}  ${m.name}: ${tsType(m)};\n`).join('')}}\n` +
    `export type ${typeName} = keyof ${payloads};\n` +
    `export const ${t.name}Types = [\n${members.map((m) => `  ${quote(m.name)},\n`).join('')}] as const satisfies readonly ${typeName}[];\n` +
    `\n/** ${t.name} as a union discriminated by \`type\`, so that checking \`type\` narrows \`payload\` (or one member: \`${t.name}Of<'${members[0].name}'>\`). */\n` +
    `export type ${t.name}Of<T extends ${typeName} = ${typeName}> = {\n` +
    `  [K in T]: Omit<${t.name}, 'type' | 'payload'> & { type: K; payload: ${payloads}[K] };\n` +
    `}[T];\n`
  );
}

/** The text of the TypeScript module generated from the .proto file at `protoPath`. */
export function generate(protoPath: string): string {
  const parsed = new protobuf.Root().loadSync(protoPath, { alternateCommentMode: true, keepCase: true });
  parsed.resolveAll();
  const relative = path.relative(root, path.resolve(protoPath)).split(path.sep).join('/');
  const source = relative.startsWith('..') ? path.basename(protoPath) : relative;
  const decls: string[] = [];
  for (const item of packageOf(parsed).nestedArray) {
    if (item instanceof protobuf.Enum) decls.push(enumDecl(item));
    else if (item instanceof protobuf.Type) decls.push(messageDecl(item));
    else throw new Error(`${item.fullName}: unsupported declaration (${item.constructor.name})`);
  }
  return `// Generated by \`npm run proto\` from ${source}. Do not edit.\n\n${decls.join('\n')}`;
}

function isMain(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  const self = fileURLToPath(import.meta.url);
  if (import.meta.url === pathToFileURL(script).href) return true;
  try {
    return fs.realpathSync(script) === fs.realpathSync(self);
  } catch {
    return false;
  }
}

if (isMain()) {
  const text = generate(protoPath);
  const shown = path.relative(process.cwd(), outputPath);
  if (process.argv.includes('--check')) {
    const current = fs.existsSync(outputPath) ? fs.readFileSync(outputPath, 'utf8') : null;
    if (current !== text) {
      console.error(`${shown} is ${current === null ? 'missing' : 'out of date'} with respect to proto/databuild.proto: run \`npm run proto\``);
      process.exit(1);
    }
    console.log(`${shown} is up to date`);
  } else {
    fs.mkdirSync(path.dirname(outputPath), { recursive: true });
    fs.writeFileSync(outputPath, text);
    console.log(`wrote ${shown}`);
  }
}
