/**
 * The architecture, checked (docs/architecture.md):
 *
 * - every import of the checked folders follows the rule table below (the same table is in
 *   docs/architecture.md, and its picture and table are checked against this one);
 * - every citation of the contract in code (`PROTOCOL` and a section number) names a numbered
 *   heading of docs/protocol.md, and every `DESIGN` citation with a quoted name names a heading
 *   of docs/design.md.
 *
 * Imports are found by a small tokenizer (comments, strings, template literals and regular
 * expressions are skipped properly), not by the TypeScript compiler: it must work while other
 * files do not compile, and it must see `import type`, which bundlers drop.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

// ---------------------------------------------------------------------------------------------
// The rule table. docs/architecture.md shows the same rows; a test below compares them.
// ---------------------------------------------------------------------------------------------

/**
 * What an import may point at:
 * - `protocol/`: any file of a project folder; `hub/hub.ts`: one project file;
 * - `hub/ at run time`: a project folder, counting only imports that survive compilation
 *   (everything but `import type` / `export type`);
 * - `node:*`: a Node.js built-in module (with or without the `node:` prefix);
 * - `npm:*`: any npm package; `npm:zod`, `npm:@serialport/*`: the packages so named.
 */
type Target = string;

interface AllowRule {
  /** Files the rule applies to (globs relative to the repository). */
  files: string[];
  /** What those files may import. A file may import what any rule covering it allows. */
  may: Target[];
  why: string;
}

interface DenyRule {
  files: string[];
  except?: string[];
  /** What those files may not import, whatever an allow rule says. */
  mayNot: Target[];
  why: string;
}

/** Folders whose files are checked. Test files are skipped, except protocol's. */
const CHECKED_FOLDERS = ['protocol/', 'device/', 'hub/', 'kiosk-ui/', 'simulators/'];
const CHECKED_TESTS = ['protocol/**/*.test.ts'];

const ALLOW: AllowRule[] = [
  { files: ['protocol/**'], may: ['protocol/'], why: 'pure: no I/O, nothing of the project outside protocol/' },
  { files: ['protocol/schemas.ts', 'protocol/json-schema.ts', 'protocol/cli/**', 'protocol/**/*.test.ts'], may: ['npm:zod'], why: 'the JSON schemas, their documents, the frame inspector' },
  { files: ['protocol/**/*.test.ts'], may: ['node:*', 'npm:vitest', 'npm:fast-check', 'npm:esbuild'], why: 'tests read the vectors, spawn the inspector and bundle the pages' },
  { files: ['device/**'], may: ['device/', 'protocol/', 'node:*', 'npm:*'], why: 'the evaluator firmware' },
  { files: ['device/cli.ts'], may: ['simulators/sim-io.ts', 'simulators/terminal.ts'], why: '`npm run device` runs the firmware on the simulated board too, driven from the terminal as the other simulators are' },
  { files: ['hub/**'], may: ['hub/', 'protocol/', 'node:*', 'npm:*'], why: 'the hall hub: never device/, kiosk-ui/ or simulators/' },
  { files: ['kiosk-ui/pages/**'], may: ['kiosk-ui/pages/', 'protocol/', 'npm:*'], why: 'browser code bundled by esbuild: no Node module, nothing of the hub' },
  { files: ['kiosk-ui/shell/**'], may: ['kiosk-ui/shell/', 'protocol/', 'node:*', 'npm:*'], why: 'the Electron kiosk shell' },
  { files: ['simulators/**'], may: ['simulators/', 'protocol/', 'device/', 'hub/', 'node:*', 'npm:*'], why: 'fakes that people and tests share' },
];

const DENY: DenyRule[] = [
  { files: ['hub/**'], except: ['hub/ports.ts'], mayNot: ['npm:serialport', 'npm:@serialport/*', 'npm:node-hid'], why: 'ports.ts is the one file binding the drivers; the rest receive a PortOpener' },
  { files: ['hub/**'], except: ['hub/cli.ts'], mayNot: ['hub/hub.ts'], why: 'hub.ts is the composition root: only the CLI starts it' },
  { files: ['hub/http.ts'], mayNot: ['hub/ at run time'], why: 'the HTTP API receives an interface; `import type` only' },
  { files: ['protocol/**', 'hub/**', 'kiosk-ui/**'], mayNot: ['device/transport.ts'], why: "the shared byte transport is protocol/transport.ts; device/transport.ts is the device's edge" },
];

// ---------------------------------------------------------------------------------------------
// Files and globs
// ---------------------------------------------------------------------------------------------

function globRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      if (glob[i + 2] === '/') {
        source += '(?:.*/)?';
        i += 2;
      } else {
        source += '.*';
        i += 1;
      }
    } else if (c === '*') source += '[^/]*';
    else source += c.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

const matchesAny = (path: string, globs: readonly string[]) => globs.some((g) => globRegExp(g).test(path));

function listTs(folder: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    if (!existsSync(join(ROOT, dir))) return;
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
      const path = posix.join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) out.push(path);
    }
  };
  walk(folder.replace(/\/$/, ''));
  return out.sort();
}

const isTest = (path: string) => path.endsWith('.test.ts');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

// ---------------------------------------------------------------------------------------------
// Tokenizer and import scanner
// ---------------------------------------------------------------------------------------------

interface Token {
  type: 'name' | 'string' | 'punct' | 'value';
  value: string;
  line: number;
}

/** Keywords after which a `/` starts a regular expression, not a division. */
const BEFORE_EXPRESSION = new Set(['return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw', 'case', 'do', 'else', 'yield', 'await']);

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  const n = source.length;
  let i = 0;
  let line = 1;
  let braces = 0;
  /** Brace depth at each open `${` of a template literal. */
  const templates: number[] = [];
  const push = (type: Token['type'], value: string, at = line) => tokens.push({ type, value, line: at });
  const advanceTo = (end: number) => {
    for (let k = i; k < end; k++) if (source[k] === '\n') line++;
    i = end;
  };
  const regexAllowed = () => {
    const t = tokens[tokens.length - 1];
    if (!t) return true;
    if (t.type === 'string' || t.type === 'value') return false;
    if (t.type === 'name') return BEFORE_EXPRESSION.has(t.value);
    return t.value !== ')' && t.value !== ']' && t.value !== '}';
  };
  /** From just after a backtick or a closing `}` of `${...}`: to the end of the literal, or into the next `${`. */
  const templateRest = () => {
    const start = line;
    while (i < n) {
      const c = source[i]!;
      if (c === '\\') advanceTo(i + 2);
      else if (c === '`') {
        i++;
        push('value', '`', start);
        return;
      } else if (c === '$' && source[i + 1] === '{') {
        i += 2;
        templates.push(braces);
        return;
      } else advanceTo(i + 1);
    }
  };

  if (source.startsWith('#!')) while (i < n && source[i] !== '\n') i++;
  while (i < n) {
    const c = source[i]!;
    if (c === '\n') {
      line++;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v' || c === '\uFEFF' || c === '\u00A0') i++;
    else if (c === '/' && source[i + 1] === '/') {
      while (i < n && source[i] !== '\n') i++;
    } else if (c === '/' && source[i + 1] === '*') {
      const end = source.indexOf('*/', i + 2);
      advanceTo(end < 0 ? n : end + 2);
    } else if (c === '"' || c === "'") {
      const start = line;
      let value = '';
      i++;
      while (i < n && source[i] !== c && source[i] !== '\n') {
        if (source[i] === '\\') {
          value += source[i + 1] ?? '';
          advanceTo(i + 2);
        } else value += source[i++];
      }
      i++;
      push('string', value, start);
    } else if (c === '`') {
      i++;
      templateRest();
    } else if (c === '}' && templates.length > 0 && templates[templates.length - 1] === braces) {
      templates.pop();
      i++;
      templateRest();
    } else if (/[A-Za-z_$\u0080-\uFFFF]/.test(c)) {
      const start = i;
      while (i < n && /[\w$\u0080-\uFFFF]/.test(source[i]!)) i++;
      push('name', source.slice(start, i));
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(source[i + 1] ?? ''))) {
      const start = i;
      while (i < n && /[\w.]/.test(source[i]!)) i++;
      push('value', source.slice(start, i));
    } else if (c === '/' && regexAllowed()) {
      // A regular expression literal, unless the line ends first: then it was a division.
      let k = i + 1;
      let inClass = false;
      let closed = false;
      while (k < n && source[k] !== '\n') {
        const d = source[k]!;
        if (d === '\\') k += 2;
        else {
          if (d === '[') inClass = true;
          else if (d === ']') inClass = false;
          else if (d === '/' && !inClass) {
            closed = true;
            break;
          }
          k++;
        }
      }
      if (closed) {
        k++;
        while (k < n && /[a-z]/i.test(source[k]!)) k++;
        push('value', source.slice(i, k));
        i = k;
      } else {
        push('punct', c);
        i++;
      }
    } else {
      if (c === '{') braces++;
      else if (c === '}') braces--;
      push('punct', c);
      i++;
    }
  }
  return tokens;
}

interface ImportRef {
  specifier: string;
  line: number;
  /** `type`: erased at compile time (`import type`, `export type`, `typeof import(...)`). */
  kind: 'static' | 'dynamic' | 'type';
}

const isPunct = (t: Token | undefined, value: string) => t?.type === 'punct' && t.value === value;
const isName = (t: Token | undefined, value: string) => t?.type === 'name' && t.value === value;

/** Every `import ... from`, `import '...'`, `export ... from` and `import('...')` of a source. */
function scanImports(source: string): ImportRef[] {
  const tokens = tokenize(source);
  const out: ImportRef[] = [];
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    if (t.type !== 'name' || isPunct(tokens[k - 1], '.')) continue;
    if (t.value === 'import') {
      const next = tokens[k + 1];
      if (isPunct(next, '(')) {
        const arg = tokens[k + 2];
        // A computed specifier cannot be checked: report it so that nobody slips one in.
        const specifier = arg?.type === 'string' && (isPunct(tokens[k + 3], ')') || isPunct(tokens[k + 3], ',')) ? arg.value : '<computed>';
        let close = k + 2;
        for (let depth = 0; close < tokens.length; close++) {
          if (isPunct(tokens[close], '(')) depth++;
          else if (isPunct(tokens[close], ')') && depth-- === 0) break;
        }
        const member = isPunct(tokens[close + 1], '.') && tokens[close + 2]?.type === 'name' && !['then', 'catch', 'finally'].includes(tokens[close + 2]!.value);
        out.push({ specifier, line: t.line, kind: isName(tokens[k - 1], 'typeof') || member ? 'type' : 'dynamic' });
        continue;
      }
      if (isPunct(next, '.')) continue; // import.meta
      if (next?.type === 'string') {
        out.push({ specifier: next.value, line: t.line, kind: 'static' });
        continue;
      }
      const after = tokens[k + 2];
      const typeOnly = isName(next, 'type') && !isName(after, 'from') && !isPunct(after, ',') && !isPunct(after, '=');
      for (let j = k + 1, depth = 0; j < tokens.length; j++) {
        const u = tokens[j]!;
        if (isPunct(u, '{')) depth++;
        else if (isPunct(u, '}')) depth--;
        else if (depth === 0 && (isPunct(u, ';') || isPunct(u, '=') || isPunct(u, '('))) break;
        else if (depth === 0 && isName(u, 'from') && tokens[j + 1]?.type === 'string') {
          out.push({ specifier: tokens[j + 1]!.value, line: t.line, kind: typeOnly ? 'type' : 'static' });
          break;
        }
      }
    } else if (t.value === 'export') {
      let j = k + 1;
      let typeOnly = false;
      if (isName(tokens[j], 'type') && (isPunct(tokens[j + 1], '{') || isPunct(tokens[j + 1], '*'))) {
        typeOnly = true;
        j++;
      }
      if (isPunct(tokens[j], '{')) {
        while (j < tokens.length && !isPunct(tokens[j], '}')) j++;
        j++;
      } else if (isPunct(tokens[j], '*')) {
        j++;
        if (isName(tokens[j], 'as')) j += 2;
      } else continue;
      if (isName(tokens[j], 'from') && tokens[j + 1]?.type === 'string') {
        out.push({ specifier: tokens[j + 1]!.value, line: t.line, kind: typeOnly ? 'type' : 'static' });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Resolving and judging imports
// ---------------------------------------------------------------------------------------------

type Dependency =
  | { kind: 'project'; path: string }
  | { kind: 'node'; name: string }
  | { kind: 'npm'; name: string }
  | { kind: 'computed' };

const BUILTINS = new Set(builtinModules);

function resolveSpecifier(file: string, specifier: string): Dependency {
  if (specifier === '<computed>') return { kind: 'computed' };
  if (specifier.startsWith('.') || specifier.startsWith('/')) {
    let path = specifier.startsWith('/') ? relative(ROOT, specifier).split('\\').join('/') : posix.normalize(posix.join(posix.dirname(file), specifier));
    if (/\.[cm]?js$/.test(path)) {
      const ts = path.replace(/\.([cm]?)js$/, '.$1ts');
      if (existsSync(join(ROOT, ts)) || !existsSync(join(ROOT, path))) path = ts;
    } else if (!/\.[a-z]+$/i.test(path)) {
      if (existsSync(join(ROOT, `${path}.ts`))) path = `${path}.ts`;
      else if (existsSync(join(ROOT, path, 'index.ts'))) path = posix.join(path, 'index.ts');
    }
    return { kind: 'project', path };
  }
  if (specifier.startsWith('node:') || BUILTINS.has(specifier) || BUILTINS.has(specifier.split('/')[0]!)) return { kind: 'node', name: specifier };
  const parts = specifier.split('/');
  return { kind: 'npm', name: specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]! };
}

function targetMatches(target: Target, dep: Dependency, kind: ImportRef['kind']): boolean {
  if (dep.kind === 'computed') return false;
  if (target === 'node:*') return dep.kind === 'node';
  if (target.startsWith('npm:')) return dep.kind === 'npm' && packageGlob(target.slice(4)).test(dep.name);
  if (dep.kind !== 'project') return false;
  const runTimeOnly = target.endsWith(' at run time');
  if (runTimeOnly && kind === 'type') return false;
  const place = runTimeOnly ? target.slice(0, -' at run time'.length) : target;
  return place.endsWith('/') ? dep.path.startsWith(place) : dep.path === place;
}

/** `*` in a package pattern spans scopes too: `npm:*` is every package. */
const packageGlob = (pattern: string) => new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);

const describeDep = (dep: Dependency) =>
  dep.kind === 'project' ? dep.path : dep.kind === 'node' ? `${dep.name} (Node built-in)` : dep.kind === 'npm' ? `${dep.name} (npm)` : 'a computed specifier';

interface Violation {
  file: string;
  line: number;
  specifier: string;
  message: string;
}

function checkedFiles(): string[] {
  return CHECKED_FOLDERS.flatMap(listTs).filter((f) => !isTest(f) || matchesAny(f, CHECKED_TESTS));
}

function importViolations(files: readonly string[]): Violation[] {
  const violations: Violation[] = [];
  for (const file of files) {
    const allow = ALLOW.filter((r) => matchesAny(file, r.files));
    const deny = DENY.filter((r) => matchesAny(file, r.files) && !matchesAny(file, r.except ?? []));
    for (const ref of scanImports(read(file))) {
      const dep = resolveSpecifier(file, ref.specifier);
      const where = { file, line: ref.line, specifier: ref.specifier };
      const what = `${ref.kind === 'type' ? 'import type' : ref.kind === 'dynamic' ? 'import()' : 'import'} '${ref.specifier}' → ${describeDep(dep)}`;
      if (allow.length === 0) {
        violations.push({ ...where, message: `${what}: no rule of the table covers ${file}` });
        continue;
      }
      if (!allow.some((r) => r.may.some((t) => targetMatches(t, dep, ref.kind)))) {
        const may = [...new Set(allow.flatMap((r) => r.may))].join(', ');
        violations.push({ ...where, message: `${what}: not allowed; ${file} may import only ${may}` });
        continue;
      }
      for (const rule of deny) {
        const hit = rule.mayNot.find((t) => targetMatches(t, dep, ref.kind));
        if (hit) violations.push({ ...where, message: `${what}: ${file} may not import ${hit} (${rule.why})` });
      }
    }
  }
  return violations;
}

const formatViolations = (violations: readonly Violation[]) => violations.map((v) => `${v.file}:${v.line} ${v.message}`);

// ---------------------------------------------------------------------------------------------
// Headings and citations
// ---------------------------------------------------------------------------------------------

interface Heading {
  level: number;
  text: string;
  line: number;
}

function headings(markdown: string): Heading[] {
  const out: Heading[] = [];
  let fenced = false;
  markdown.split('\n').forEach((raw, index) => {
    if (/^\s*```/.test(raw)) fenced = !fenced;
    const m = !fenced && /^(#{1,6})\s+(.+?)\s*#*\s*$/.exec(raw);
    if (m) out.push({ level: m[1]!.length, text: m[2]!, line: index + 1 });
  });
  return out;
}

/** `1.3` → the text of that section of docs/protocol.md, subsections included. */
function protocolSections(markdown: string): Map<string, { heading: Heading; body: string }> {
  const lines = markdown.split('\n');
  const all = headings(markdown);
  const sections = new Map<string, { heading: Heading; body: string }>();
  all.forEach((h, index) => {
    const m = /^(\d+(?:\.\d+)*)\.?\s/.exec(h.text);
    if (!m) return;
    const end = all.slice(index + 1).find((other) => other.level <= h.level);
    sections.set(m[1]!, { heading: h, body: lines.slice(h.line - 1, end ? end.line - 1 : lines.length).join('\n') });
  });
  return sections;
}

/** A DESIGN citation names a heading; a trailing parenthesis, `Hub (hub/)`, is not part of the name. */
const designName = (heading: string) => heading.replace(/\s*\([^()]*\)\s*$/, '').trim();

interface Citation {
  file: string;
  line: number;
  text: string;
}

const CITATION_FOLDERS = ['protocol/', 'device/', 'hub/', 'kiosk-ui/', 'simulators/', 'scripts/', 'tests/'];

/** `devices/{id}` and `devices/{deviceId}` name the same topic: placeholder names do not count. */
const placeholdersAlike = (text: string) => text.replace(/\{[^{}\s]*\}/g, '{}');

/** Section numbers of one citation: `2-4` is 2, 3 and 4; `1.3-1.4` is 1.3 and 1.4. */
function expandRange(from: string, to: string | undefined): string[] {
  if (!to) return [from];
  const a = from.split('.').map(Number);
  const b = to.split('.').map(Number);
  if (a.length === b.length && a.slice(0, -1).join('.') === b.slice(0, -1).join('.') && a.at(-1)! <= b.at(-1)!) {
    const prefix = a.slice(0, -1);
    const out: string[] = [];
    for (let k = a.at(-1)!; k <= b.at(-1)!; k++) out.push([...prefix, k].join('.'));
    return out;
  }
  return [from, to];
}

function citationProblems(): { protocol: string[]; design: string[]; count: number } {
  const protocolDoc = read('docs/protocol.md');
  const sections = protocolSections(protocolDoc);
  const designHeadings = new Set(headings(read('docs/design.md')).map((h) => designName(h.text)));
  const protocol: string[] = [];
  const design: string[] = [];
  let count = 0;
  const lineOf = (text: string, index: number) => text.slice(0, index).split('\n').length;
  for (const file of CITATION_FOLDERS.flatMap(listTs)) {
    const text = read(file);
    // A citation may wrap onto the next comment line: `(PROTOCOL` / `// 1.1)`.
    for (const m of text.matchAll(/\bPROTOCOL(?:\s|\/\/|\*)+(\d+(?:\.\d+)?)(?:\s*[-–]\s*(\d+(?:\.\d+)?))?(?:[ \t]+`([^`\n]+)`)?/g)) {
      count++;
      const at: Citation = { file, line: lineOf(text, m.index), text: m[0].replace(/\s+/g, ' ') };
      for (const number of expandRange(m[1]!, m[2])) {
        const section = sections.get(number);
        if (!section) protocol.push(`${at.file}:${at.line} "${at.text}": docs/protocol.md has no heading numbered ${number}`);
        else if (m[3] && !placeholdersAlike(section.body).includes(placeholdersAlike(m[3]))) {
          protocol.push(`${at.file}:${at.line} "${at.text}": section ${number} of docs/protocol.md ("${section.heading.text}") never mentions ${m[3]}`);
        }
      }
    }
    for (const m of text.matchAll(/\bDESIGN\s+"([^"\n]+)"/g)) {
      count++;
      if (!designHeadings.has(m[1]!)) design.push(`${file}:${lineOf(text, m.index)} ${'DESIGN'} "${m[1]}": docs/design.md has no heading "${m[1]}"`);
    }
  }
  return { protocol, design, count };
}

// ---------------------------------------------------------------------------------------------
// The rule table as docs/architecture.md shows it
// ---------------------------------------------------------------------------------------------

const code = (s: string) => `\`${s}\``;

function renderAllowTable(): string[] {
  return ['| files | may import | why |', '|---|---|---|', ...ALLOW.map((r) => `| ${r.files.map(code).join(', ')} | ${r.may.map(code).join(', ')} | ${r.why} |`)];
}

function renderDenyTable(): string[] {
  return [
    '| files | may not import | why |',
    '|---|---|---|',
    ...DENY.map((r) => `| ${r.files.map(code).join(', ')}${r.except ? ` except ${r.except.map(code).join(', ')}` : ''} | ${r.mayNot.map(code).join(', ')} | ${r.why} |`),
  ];
}

function renderScope(): string {
  return `Checked: every \`.ts\` file under ${CHECKED_FOLDERS.map(code).join(', ')}; test files are skipped except ${CHECKED_TESTS.map(code).join(', ')}.`;
}

/** The lines of one `## name` section of a markdown document. */
function section(markdown: string, name: string): string[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trim() === `## ${name}`);
  if (start < 0) return [];
  const end = lines.findIndex((l, k) => k > start && /^## /.test(l));
  return lines.slice(start + 1, end < 0 ? lines.length : end);
}

/** The markdown tables of a section, each as its lines. */
function tables(lines: readonly string[]): string[][] {
  const out: string[][] = [];
  let current: string[] | undefined;
  for (const l of lines) {
    if (l.startsWith('|')) (current ??= []).push(l.trimEnd());
    else if (current) {
      out.push(current);
      current = undefined;
    }
  }
  if (current) out.push(current);
  return out;
}

/** The first fenced block of a section. */
function fenced(lines: readonly string[]): string[] {
  const start = lines.findIndex((l) => l.startsWith('```'));
  if (start < 0) return [];
  const end = lines.findIndex((l, k) => k > start && l.startsWith('```'));
  return lines.slice(start + 1, end < 0 ? lines.length : end);
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

describe('the import scanner', () => {
  it('finds static, type-only, re-exported and dynamic imports, over several lines', () => {
    const source = [
      "import { a,",
      "  b } from './one.js';",
      "import type { T } from './two.js';",
      "import x, { type U } from 'three';",
      "import './four.js';",
      "export { c } from './five.js';",
      "export type { V } from './six.js';",
      "export * as ns from 'node:seven';",
      "export const local = 1; export { local as other };",
      "const m = await import('eight');",
      "type H = typeof import('./nine.js');",
      "let y: import('./ten.js').Ten;",
      "import('eleven').then(() => {});",
      "const meta = import.meta.url;",
    ].join('\n');
    expect(scanImports(source)).toEqual([
      { specifier: './one.js', line: 1, kind: 'static' },
      { specifier: './two.js', line: 3, kind: 'type' },
      { specifier: 'three', line: 4, kind: 'static' },
      { specifier: './four.js', line: 5, kind: 'static' },
      { specifier: './five.js', line: 6, kind: 'static' },
      { specifier: './six.js', line: 7, kind: 'type' },
      { specifier: 'node:seven', line: 8, kind: 'static' },
      { specifier: 'eight', line: 10, kind: 'dynamic' },
      { specifier: './nine.js', line: 11, kind: 'type' },
      { specifier: './ten.js', line: 12, kind: 'type' },
      { specifier: 'eleven', line: 13, kind: 'dynamic' },
    ]);
  });

  it('ignores imports in comments, strings, templates and regular expressions, and sees them inside ${}', () => {
    const source = [
      "// import { no } from 'comment-line';",
      "/* import('comment-block') */",
      "const s = \"import x from 'in-a-string'\";",
      "const t = `import('in-a-template') ${await import('in-an-expression')} done`;",
      "const r = /['\"`]import('in-a-regex')/g;",
      "const d = 4 / 2; const e = (1) / 2; // import('after-division')",
      "/** `import('./kiosk-ui/shell/shell-core.ts')` in a doc comment */",
      "import { yes } from 'real';",
    ].join('\n');
    expect(scanImports(source).map((r) => r.specifier)).toEqual(['in-an-expression', 'real']);
  });

  it('reports a computed dynamic import, which no rule could check', () => {
    expect(scanImports('await import(name);')).toEqual([{ specifier: '<computed>', line: 1, kind: 'dynamic' }]);
  });

  it('sees the imports of every checked folder (a scanner that finds nothing would pass anything)', () => {
    const files = checkedFiles();
    for (const folder of CHECKED_FOLDERS) {
      const imports = files.filter((f) => f.startsWith(folder)).flatMap((f) => scanImports(read(f)));
      expect(imports.length, `no import found under ${folder}`).toBeGreaterThan(0);
    }
  });
});

describe('the architecture', () => {
  it('every import of protocol/, device/, hub/, kiosk-ui/ and simulators/ follows the rule table', () => {
    const violations = formatViolations(importViolations(checkedFiles()));
    expect(violations, `${violations.length} import(s) break the rules of docs/architecture.md:\n  ${violations.join('\n  ')}\n`).toEqual([]);
  });

  it('the rules catch what they are meant to catch', () => {
    // The rule table judged on made-up imports, so a typo in a rule cannot silently allow everything.
    const judge = (file: string, specifier: string, kind: ImportRef['kind'] = 'static') => {
      const allow = ALLOW.filter((r) => matchesAny(file, r.files));
      const deny = DENY.filter((r) => matchesAny(file, r.files) && !matchesAny(file, r.except ?? []));
      const dep = resolveSpecifier(file, specifier);
      return allow.some((r) => r.may.some((t) => targetMatches(t, dep, kind))) && !deny.some((r) => r.mayNot.some((t) => targetMatches(t, dep, kind)));
    };
    expect(judge('protocol/frame.ts', './crc16.js')).toBe(true);
    expect(judge('protocol/frame.ts', 'node:fs')).toBe(false);
    expect(judge('protocol/frame.ts', 'zod')).toBe(false);
    expect(judge('protocol/schemas.ts', 'zod')).toBe(true);
    expect(judge('protocol/frame.test.ts', 'node:fs')).toBe(true);
    expect(judge('protocol/frame.ts', '../hub/store.js')).toBe(false);
    expect(judge('device/core.ts', '../hub/store.js')).toBe(false);
    expect(judge('hub/link.ts', '../device/transport.js')).toBe(false);
    expect(judge('hub/link.ts', '../protocol/transport.js')).toBe(true);
    expect(judge('hub/link.ts', 'serialport')).toBe(false);
    expect(judge('hub/ports.ts', 'serialport')).toBe(true);
    expect(judge('hub/ports.ts', '@serialport/bindings-cpp')).toBe(true);
    expect(judge('hub/links.ts', 'node-hid')).toBe(false);
    expect(judge('hub/views.ts', './hub.js', 'type')).toBe(false);
    expect(judge('hub/cli.ts', './hub.js')).toBe(true);
    expect(judge('hub/http.ts', './views.js', 'type')).toBe(true);
    expect(judge('hub/http.ts', './views.js')).toBe(false);
    expect(judge('hub/http.ts', './hub.js', 'type')).toBe(false);
    expect(judge('kiosk-ui/pages/dashboard-chart.ts', '../../hub/evaluations.js')).toBe(false);
    expect(judge('kiosk-ui/pages/tablet.ts', 'node:crypto')).toBe(false);
    expect(judge('kiosk-ui/pages/tablet.ts', 'events')).toBe(false);
    expect(judge('kiosk-ui/pages/tablet.ts', 'mqtt')).toBe(true);
    expect(judge('kiosk-ui/pages/tablet.ts', '../../protocol/index.js')).toBe(true);
    expect(judge('kiosk-ui/shell/main.ts', 'electron')).toBe(true);
    expect(judge('kiosk-ui/shell/main.ts', '../pages/i18n.js')).toBe(false);
    expect(judge('simulators/demo-hall.ts', '../hub/hub.js')).toBe(true);
    expect(judge('simulators/demo-hall.ts', '../device/transport.js')).toBe(true);
    expect(judge('hub/links.ts', '../device/transport.js')).toBe(false);
    expect(judge('simulators/demo-hall.ts', '../kiosk-ui/pages/i18n.js')).toBe(false);
    expect(judge('simulators/demo-hall.ts', '../tests/support/hub.js')).toBe(false);
    expect(judge('device/cli.ts', '../simulators/sim-io.js')).toBe(true);
    expect(judge('device/firmware.ts', '../simulators/sim-io.js')).toBe(false);
  });

  it('every PROTOCOL and DESIGN citation in code names a heading of docs/protocol.md or docs/design.md', () => {
    const { protocol, design, count } = citationProblems();
    expect(count, 'no citation found at all: the scanner is broken').toBeGreaterThan(20);
    const problems = [...protocol, ...design];
    expect(problems, `${problems.length} citation(s) do not resolve:\n  ${problems.join('\n  ')}\n`).toEqual([]);
  });

  it("docs/protocol.md keeps the contract's numbering", () => {
    const numbered = headings(read('docs/protocol.md'))
      .map((h) => ({ h, m: /^(\d+(?:\.\d+)*)\.?\s/.exec(h.text) }))
      .filter(({ m }) => m)
      .map(({ h, m }) => `${'#'.repeat(h.level)} ${m![1]}`);
    expect(numbered).toEqual(['## 1', '### 1.1', '### 1.2', '### 1.3', '### 1.4', '## 2', '## 3', '## 4', '### 4.1', '### 4.2', '## 5', '## 6', '## 7', '## 8']);
    const lines = read('docs/protocol.md').split('\n');
    for (const heading of ['## 1. Evaluator link', '### 1.1 Framing', '### 1.2 Transports', '### 1.3 Messages', '### 1.4 Link life cycle', '## 8. QR code per transaction']) {
      expect(lines, `docs/protocol.md lacks the heading "${heading}"`).toContain(heading);
    }
  });

  it('docs/architecture.md shows the same rule table as this test', () => {
    const doc = section(read('docs/architecture.md'), 'Import rules');
    expect(doc.length, 'docs/architecture.md has no "## Import rules" section').toBeGreaterThan(0);
    expect(tables(doc), 'the tables of "## Import rules" in docs/architecture.md differ from ALLOW and DENY in tests/architecture.test.ts').toEqual([
      renderAllowTable(),
      renderDenyTable(),
    ]);
    expect(doc, 'the "Checked:" line of docs/architecture.md differs from the test').toContain(renderScope());
  });

  it("docs/architecture.md's picture draws each folder's arrows as the rule table allows them", () => {
    const picture = fenced(section(read('docs/architecture.md'), 'The picture'));
    expect(picture.length, 'docs/architecture.md has no fenced picture under "## The picture"').toBeGreaterThan(0);
    const drawn = new Map<string, string[]>();
    for (const l of picture) {
      const m = /^\s*([a-z-]+(?:\/[a-z-]+)*\/)\s+─+▶\s+(.*)$/.exec(l);
      if (!m) continue;
      const targets = (m[2]!.match(/(?<![\w:./-])(?:[a-z-]+(?:\/[a-z-]+)*\/|node:\*|npm:[\w@*./-]+)/g) ?? []).filter((t) => t !== m[1]);
      drawn.set(m[1]!, [...(drawn.get(m[1]!) ?? []), ...targets].sort());
    }
    const expected = new Map<string, string[]>();
    // A folder's arrow is its main rule: the one whose only glob is `folder/**`.
    for (const rule of ALLOW) {
      const folder = rule.files.length === 1 ? /^([a-z-]+(?:\/[a-z-]+)*\/)\*\*$/.exec(rule.files[0]!)?.[1] : undefined;
      if (folder) expected.set(folder, rule.may.filter((t) => t !== folder).sort());
    }
    expect(Object.fromEntries(drawn), 'the arrows of the picture (folder ──▶ what it may import) differ from ALLOW').toEqual(Object.fromEntries(expected));
  });

  it("docs/architecture.md's picture names every hub module", () => {
    const picture = section(read('docs/architecture.md'), 'The picture').join('\n');
    const missing = listTs('hub/')
      .filter((f) => !isTest(f))
      .map((f) => posix.basename(f))
      .filter((name) => !new RegExp(`(?<![\\w-])${name.replace('.', '\\.')}`).test(picture));
    expect(missing, `hub modules missing from the picture in docs/architecture.md: ${missing.join(', ')}`).toEqual([]);
  });
});
