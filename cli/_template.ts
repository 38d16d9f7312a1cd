/**
 * The subset of Go's `text/template` that docker's `--format` flags use, over JSON-shaped
 * data (objects act as Go maps, arrays as slices), with docker's functions (`json`, `join`,
 * `split`, `lower`, `upper`, `title`, `truncate`, `pad`) and Go's builtins (`index`, `len`,
 * `print`, `printf`, `println`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `and`, `or`, `not`).
 * Values print as Go's `fmt` prints them: `[a b]` for slices, `map[k:v]` with sorted keys
 * for maps, `<no value>` for a missing key and `<nil>` for null. This file lexes, parses
 * and runs a template; the values, their printing and the functions are in
 * `_template_values.ts`.
 *
 * Written by hand: no maintained npm package implements Go's template language with Go's
 * printing rules, and docker users paste templates written for docker.
 *
 * @module
 */
import {
  call,
  FUNCS,
  goPrint,
  goType,
  NO_VALUE,
  TemplateError,
  truth,
  type Value,
} from "./_template_values.ts";

type Node =
  | { kind: "text"; text: string }
  | { kind: "action"; pipe: Pipe; line: number }
  | { kind: "if" | "with"; pipe: Pipe; then: Node[]; else: Node[]; line: number }
  | { kind: "range"; pipe: Pipe; vars: string[]; then: Node[]; else: Node[]; line: number };

interface Pipe {
  /** `$x :=` (declare) or `$x =` (assign) before the commands. */
  decl?: { name: string; declare: boolean };
  commands: Operand[][];
}

type Operand =
  | { kind: "field"; path: string[] } // `.A.B` on dot; `.` alone has path []
  | { kind: "var"; name: string; path: string[] }
  | { kind: "ident"; name: string }
  | { kind: "literal"; value: Value }
  | { kind: "pipe"; pipe: Pipe; path: string[] };

/** A parsed template: run it with `execute`. */
export interface Template {
  /** Renders the template over `data` (the template's `.`). */
  execute(data: Value): string;
}

/** Parses `text` as a Go template; throws {@linkcode TemplateError} naming the line. */
export function parseTemplate(text: string): Template {
  const nodes = parse(text);
  return { execute: (data) => run(nodes, data) };
}

// ---------------------------------------------------------------------------- lexing

interface Piece {
  text?: string;
  action?: string;
  line: number;
}

function split(text: string): Piece[] {
  const out: Piece[] = [];
  let i = 0;
  let line = 1;
  while (i < text.length) {
    const open = text.indexOf("{{", i);
    if (open < 0) {
      out.push({ text: text.slice(i), line });
      break;
    }
    let chunk = text.slice(i, open);
    let start = open + 2;
    if (/^-[ \t\r\n]/.test(text.slice(start, start + 2))) {
      chunk = chunk.replace(/[ \t\r\n]+$/, "");
      start += 2;
    }
    if (chunk) out.push({ text: chunk, line });
    line += (text.slice(i, open).match(/\n/g) ?? []).length;
    const close = findClose(text, start);
    if (close < 0) throw new TemplateError(`template: :${line}: unclosed action`);
    let end = close;
    let next = close + 2;
    const trimRight = /[ \t\r\n]-$/.test(text.slice(close - 2, close));
    if (trimRight) end = close - 2;
    const body = text.slice(start, end);
    out.push({ action: body, line });
    line += (text.slice(open, next).match(/\n/g) ?? []).length;
    if (trimRight) {
      while (next < text.length && /[ \t\r\n]/.test(text[next])) {
        if (text[next] === "\n") line++;
        next++;
      }
    }
    i = next;
  }
  return out;
}

/** The index of the `}}` closing an action, skipping quoted strings. */
function findClose(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (c === '"' || c === "`" || c === "'") {
      for (i++; i < text.length && text[i] !== c; i++) if (c !== "`" && text[i] === "\\") i++;
    } else if (c === "}" && text[i + 1] === "}") return i;
  }
  return -1;
}

type Token = { t: string; v: string };

function lex(action: string, line: number): Token[] {
  const out: Token[] = [];
  const fail = (why: string): never => {
    throw new TemplateError(`template: :${line}: ${why}`);
  };
  let i = 0;
  while (i < action.length) {
    const c = action[i];
    const rest = action.slice(i);
    let m: RegExpExecArray | null;
    if (/\s/.test(c)) i++;
    else if (rest.startsWith(":=")) out.push({ t: ":=", v: ":=" }), i += 2;
    else if ("|(),=".includes(c)) out.push({ t: c, v: c }), i++;
    else if (c === '"') {
      m = /^"(?:[^"\\]|\\.)*"/.exec(rest);
      if (!m) fail("unterminated quoted string");
      try {
        out.push({ t: "lit", v: JSON.stringify(JSON.parse(m![0])) });
      } catch {
        fail(`invalid syntax in ${m![0]}`);
      }
      i += m![0].length;
    } else if (c === "`") {
      const end = action.indexOf("`", i + 1);
      if (end < 0) fail("unterminated raw quoted string");
      out.push({ t: "lit", v: JSON.stringify(action.slice(i + 1, end)) });
      i = end + 1;
    } else if ((m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(rest))) {
      out.push({ t: "lit", v: m[0] });
      i += m[0].length;
    } else if ((m = /^\$[A-Za-z0-9_]*((\.[A-Za-z0-9_]+)*)/.exec(rest))) {
      out.push({ t: "var", v: m[0] });
      i += m[0].length;
    } else if ((m = /^(\.[A-Za-z0-9_]+)+|^\./.exec(rest))) {
      out.push({ t: "field", v: m[0] });
      i += m[0].length;
    } else if ((m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest))) {
      out.push({ t: "ident", v: m[0] });
      i += m[0].length;
    } else fail(`unexpected ${JSON.stringify(c)} in command`);
  }
  return out;
}

// --------------------------------------------------------------------------- parsing

function parse(text: string): Node[] {
  const pieces = split(text);
  let p = 0;
  const block = (ends: string[]): { nodes: Node[]; end: string; endPipe?: Piece } => {
    const nodes: Node[] = [];
    while (p < pieces.length) {
      const piece = pieces[p++];
      if (piece.text !== undefined) {
        nodes.push({ kind: "text", text: piece.text });
        continue;
      }
      const body = piece.action!.trim();
      if (body.startsWith("/*")) {
        if (!body.endsWith("*/")) {
          throw new TemplateError(`template: :${piece.line}: unclosed comment`);
        }
        continue;
      }
      const word = /^[a-z]+\b/.exec(body)?.[0] ?? "";
      if (word === "end" || word === "else") {
        if (!ends.includes(word)) {
          throw new TemplateError(`template: :${piece.line}: unexpected {{${word}}}`);
        }
        return { nodes, end: word, endPipe: piece };
      }
      if (word === "if" || word === "with" || word === "range") {
        nodes.push(control(word, body.slice(word.length), piece.line));
        continue;
      }
      nodes.push({
        kind: "action",
        pipe: parsePipe(lex(body, piece.line), piece.line),
        line: piece.line,
      });
    }
    if (ends.length) {
      throw new TemplateError(`template: :${pieces.at(-1)?.line ?? 1}: unexpected EOF`);
    }
    return { nodes, end: "" };
  };
  const control = (word: "if" | "with" | "range", body: string, line: number): Node => {
    const tokens = lex(body, line);
    const vars: string[] = [];
    let rest = tokens;
    if (word === "range") {
      const decl = tokens.findIndex((t) => t.t === ":=");
      if (decl > 0) {
        for (const t of tokens.slice(0, decl)) if (t.t === "var") vars.push(t.v.slice(1));
        rest = tokens.slice(decl + 1);
      }
    }
    const pipe = parsePipe(rest, line);
    const then = block(["end", "else"]);
    let elseNodes: Node[] = [];
    if (then.end === "else") {
      const elseBody = then.endPipe!.action!.trim().slice(4).trim();
      const chained = /^(if|with)\b/.exec(elseBody)?.[1] as "if" | "with" | undefined;
      // `{{else if X}}` is `{{else}}{{if X}}...{{end}}` sharing the outer `{{end}}`.
      if (chained) elseNodes = [control(chained, elseBody.slice(chained.length), line)];
      else elseNodes = block(["end"]).nodes;
    }
    return word === "range"
      ? { kind: word, pipe, vars, then: then.nodes, else: elseNodes, line }
      : { kind: word, pipe, then: then.nodes, else: elseNodes, line };
  };
  return block([]).nodes;
}

function parsePipe(tokens: Token[], line: number): Pipe {
  const fail = (why: string): never => {
    throw new TemplateError(`template: :${line}: ${why}`);
  };
  let i = 0;
  const pipe: Pipe = { commands: [] };
  if (tokens[0]?.t === "var" && (tokens[1]?.t === ":=" || tokens[1]?.t === "=")) {
    pipe.decl = { name: tokens[0].v.slice(1), declare: tokens[1].t === ":=" };
    i = 2;
  }
  const operand = (): Operand => {
    const t = tokens[i++];
    if (t.t === "field") {
      return { kind: "field", path: t.v === "." ? [] : t.v.slice(1).split(".") };
    }
    if (t.t === "var") {
      const [name, ...path] = t.v.slice(1).split(".");
      return { kind: "var", name, path };
    }
    if (t.t === "lit") return { kind: "literal", value: JSON.parse(t.v) };
    if (t.t === "ident") {
      if (t.v === "true" || t.v === "false") return { kind: "literal", value: t.v === "true" };
      if (t.v === "nil") return fail("nil is not a command");
      if (!FUNCS.has(t.v)) return fail(`function "${t.v}" not defined`);
      return { kind: "ident", name: t.v };
    }
    if (t.t === "(") {
      const start = i;
      let depth = 1;
      while (i < tokens.length && depth > 0) {
        if (tokens[i].t === "(") depth++;
        if (tokens[i].t === ")") depth--;
        i++;
      }
      if (depth) fail("unclosed left paren");
      const inner = parsePipe(tokens.slice(start, i - 1), line);
      // `(pipeline).Field`
      const path: string[] = [];
      if (tokens[i]?.t === "field" && tokens[i].v !== ".") {
        path.push(...tokens[i++].v.slice(1).split("."));
      }
      return { kind: "pipe", pipe: inner, path };
    }
    return fail(`unexpected "${t.v}" in command`);
  };
  let command: Operand[] = [];
  while (i < tokens.length) {
    if (tokens[i].t === "|") {
      if (!command.length) fail("missing command");
      pipe.commands.push(command);
      command = [];
      i++;
      continue;
    }
    command.push(operand());
  }
  if (!command.length) fail("missing value for command");
  pipe.commands.push(command);
  return pipe;
}

// ------------------------------------------------------------------------- execution

interface Scope {
  vars: Map<string, Value>[];
}

function lookupVar(scope: Scope, name: string, line: number): Value {
  for (let i = scope.vars.length - 1; i >= 0; i--) {
    if (scope.vars[i].has(name)) return scope.vars[i].get(name);
  }
  throw new TemplateError(`template: :${line}: undefined variable: $${name}`);
}

function field(value: Value, path: string[], line: number, shown: string): Value {
  let v = value;
  for (const name of path) {
    if (v === NO_VALUE || v === null || v === undefined) {
      throw new TemplateError(
        `template: :${line}: executing "" at <${shown}>: nil pointer evaluating interface {}.${name}`,
      );
    }
    if (typeof v !== "object" || Array.isArray(v)) {
      throw new TemplateError(
        `template: :${line}: executing "" at <${shown}>: can't evaluate field ${name} in type ${
          goType(v)
        }`,
      );
    }
    v = Object.hasOwn(v, name) ? (v as Record<string, Value>)[name] : NO_VALUE;
  }
  return v;
}

function evalPipe(pipe: Pipe, dot: Value, scope: Scope, line: number): Value {
  let last: Value = NO_VALUE;
  let first = true;
  for (const command of pipe.commands) {
    const final = first ? [] : [last];
    first = false;
    const ev = (o: Operand): Value => {
      switch (o.kind) {
        case "field":
          return field(dot, o.path, line, "." + o.path.join("."));
        case "var":
          return field(lookupVar(scope, o.name, line), o.path, line, `$${o.name}`);
        case "literal":
          return o.value;
        case "pipe":
          return field(evalPipe(o.pipe, dot, scope, line), o.path, line, "(...)");
        case "ident":
          return call(o.name, [], line);
      }
    };
    const [head, ...rest] = command;
    if (head.kind === "ident") last = call(head.name, [...rest.map(ev), ...final], line);
    else {
      if (rest.length || final.length) {
        throw new TemplateError(
          `template: :${line}: can't give argument to non-function ${
            head.kind === "literal" ? JSON.stringify(head.value) : "field"
          }`,
        );
      }
      last = ev(head);
    }
  }
  if (pipe.decl) {
    if (pipe.decl.declare) scope.vars[scope.vars.length - 1].set(pipe.decl.name, last);
    else {
      lookupVar(scope, pipe.decl.name, line);
      for (let i = scope.vars.length - 1; i >= 0; i--) {
        if (scope.vars[i].has(pipe.decl.name)) {
          scope.vars[i].set(pipe.decl.name, last);
          break;
        }
      }
    }
  }
  return last;
}

function run(nodes: Node[], data: Value): string {
  let out = "";
  const scope: Scope = { vars: [new Map([["", data]])] };
  const walk = (list: Node[], dot: Value): void => {
    scope.vars.push(new Map());
    try {
      for (const n of list) {
        switch (n.kind) {
          case "text":
            out += n.text;
            break;
          case "action": {
            const v = evalPipe(n.pipe, dot, scope, n.line);
            if (!n.pipe.decl) out += goPrint(v);
            break;
          }
          case "if":
          case "with": {
            const v = evalPipe(n.pipe, dot, scope, n.line);
            if (truth(v)) walk(n.then, n.kind === "with" ? v : dot);
            else walk(n.else, dot);
            break;
          }
          case "range": {
            const v = evalPipe({ commands: n.pipe.commands }, dot, scope, n.line);
            let items: [Value, Value][] = [];
            if (Array.isArray(v)) items = v.map((x, i) => [i, x]);
            else if (v !== null && typeof v === "object") {
              items = Object.keys(v).sort().map((k) => [k, (v as Record<string, Value>)[k]]);
            } else if (typeof v === "number" && Number.isInteger(v)) {
              items = Array.from({ length: Math.max(0, v) }, (_, i) => [i, i]);
            } else if (v !== null && v !== undefined && v !== NO_VALUE) {
              throw new TemplateError(
                `template: :${n.line}: range can't iterate over ${goPrint(v)}`,
              );
            }
            if (!items.length) {
              walk(n.else, dot);
              break;
            }
            for (const [k, x] of items) {
              scope.vars.push(
                new Map(
                  n.vars.length === 2
                    ? [[n.vars[0], k], [n.vars[1], x]]
                    : n.vars.length === 1
                    ? [[n.vars[0], x]]
                    : [],
                ),
              );
              try {
                walk(n.then, x);
              } finally {
                scope.vars.pop();
              }
            }
            break;
          }
        }
      }
    } finally {
      scope.vars.pop();
    }
  };
  walk(nodes, data);
  return out;
}
