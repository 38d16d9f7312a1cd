/**
 * COPY/ADD `--chmod` values as current BuildKit reads them: octal bits (`755`, `04755`), or a
 * chmod(1) symbolic mode (`go-w`, `u=rw,g=r,o=r`, `a+X`, `+x`), applied to each copied file
 * and directory. BuildKit uses tonistiigi/dchapes-mode, a Go translation of BSD's setmode(3);
 * this follows the same rules: no umask, `X` only for directories and files that already
 * have an execute bit, `s` and `t` only when the "who" covers more than others.
 *
 * Docker 20.10's BuildKit took octal only and silently ignored anything else.
 *
 * @module
 */

const SETUID = 0o4000;
const SETGID = 0o2000;
const STICKY = 0o1000;
const RWXU = 0o700;
const RWXG = 0o070;
const RWXO = 0o007;
const READ = 0o444;
const WRITE = 0o222;
const EXEC = 0o111;
const STANDARD = SETUID | SETGID | RWXU | RWXG | RWXO;

/** A bad `--chmod` value; the message quotes it. */
export class ChmodSyntaxError extends SyntaxError {
  /** The value as written. */
  readonly value: string;
  /** Builds the error for `value`, `reason` saying what is wrong. */
  constructor(value: string, reason: string) {
    super(`invalid chmod parameter: '${value}'. ${reason}`);
    this.name = "ChmodSyntaxError";
    this.value = value;
  }
}

/** One step of a parsed mode: `+`/`-` set or clear bits, `X` sets bits if executable, copy ops. */
export interface ChmodCommand {
  /** `+`/`-` set or clear `bits`, `X` sets them on executables and directories, `u`/`g`/`o` copy that class. */
  op: "+" | "-" | "X" | "u" | "g" | "o";
  /** The permission bits the step works on. */
  bits: number;
  /** For copy ops (`g=u`): which classes to clear, set, and whether `=` clears all first. */
  clear?: boolean;
  /** For copy ops: true for `+` and `=`, which set the copied bits. */
  set?: boolean;
  /** For copy ops: the classes (user, group, other) that receive the copied bits. */
  targets?: { u: boolean; g: boolean; o: boolean };
}

/** A parsed `--chmod`: apply it to a file's mode with {@linkcode applyChmod}. */
export interface ChmodMode {
  /** The value as written, for history and cache keys. */
  readonly text: string;
  /** The steps in the order written. */
  readonly commands: readonly ChmodCommand[];
  /** The bits of an octal value; BuildKit gives them to the directories a copy makes too. */
  readonly octal?: number;
}

const OCTAL_ERROR = "it should be octal string and between 0 and 07777";

/**
 * Parses a `--chmod` value.
 *
 * @example
 * ```ts
 * import { applyChmod, parseChmod } from "./chmod_mode.ts";
 * const mode = parseChmod("go-w,+x");
 * if (applyChmod(mode, 0o666, false) !== 0o755) throw new Error();
 * ```
 * @throws {ChmodSyntaxError} for a value that is neither octal up to 07777 nor a symbolic mode.
 */
export function parseChmod(text: string): ChmodMode {
  if (/^[0-9]/.test(text)) {
    // Numeric-looking values are octal or wrong, in BuildKit's words.
    if (!/^[0-7]+$/.test(text) || parseInt(text, 8) > 0o7777) {
      throw new ChmodSyntaxError(text, OCTAL_ERROR);
    }
    const bits = parseInt(text, 8);
    const commands: ChmodCommand[] = [{ op: "-", bits: STANDARD | STICKY }, { op: "+", bits }];
    return { text, commands, octal: bits };
  }
  const commands = parseSymbolic(text);
  if (commands === undefined) {
    throw new ChmodSyntaxError(text, "it should be octal or a symbolic mode such as u+x,go-w");
  }
  return { text, commands };
}

function parseSymbolic(text: string): ChmodCommand[] | undefined {
  const commands: ChmodCommand[] = [];
  const add = (op: string, who: number, arg: number) => {
    if (op === "=") {
      commands.push({ op: "-", bits: who !== 0 ? who : STANDARD });
      op = "+";
    }
    if (op === "+" || op === "-" || op === "X") {
      commands.push({ op, bits: who !== 0 ? who & arg : arg });
    }
  };
  const addCopy = (from: "u" | "g" | "o", who: number, op: string) => {
    const targets = who !== 0
      ? { u: (who & 0o400) !== 0, g: (who & 0o040) !== 0, o: (who & 0o004) !== 0 }
      : { u: true, g: true, o: true };
    commands.push({
      op: from,
      // All bits either way: setmode's mask is the inverted umask, and there is no umask.
      bits: 0o7777,
      clear: op === "-" || op === "=",
      set: op === "+" || op === "=",
      targets,
    });
  };
  let s = text;
  if (s === "") return undefined;
  for (;;) {
    let who = 0;
    for (;;) {
      if (s === "") return undefined;
      const c = s[0];
      if (c === "a") who |= STANDARD;
      else if (c === "u") who |= SETUID | RWXU;
      else if (c === "g") who |= SETGID | RWXG;
      else if (c === "o") who |= RWXO;
      else break;
      s = s.slice(1);
    }
    // One or more operations follow the "who", each with its permission letters.
    for (;;) {
      if (s === "") return undefined;
      const op = s[0];
      s = s.slice(1);
      if (op !== "+" && op !== "-" && op !== "=") return undefined;
      let equalDone = false;
      who &= ~STICKY;
      let perm = 0;
      let permX = 0;
      for (;; s = s.slice(1)) {
        const b = s[0] ?? "";
        if (b === "r") perm |= READ;
        else if (b === "w") perm |= WRITE;
        else if (b === "x") perm |= EXEC;
        else if (b === "X") {
          if (op !== "-") permX = EXEC;
          else perm |= EXEC;
        } else if (b === "s") {
          if (who === 0 || (who & ~RWXO) !== 0) perm |= SETUID | SETGID;
        } else if (b === "t") {
          if (who === 0 || (who & ~RWXO) !== 0) {
            who |= STICKY;
            perm |= STICKY;
          }
        } else if (b === "u" || b === "g" || b === "o") {
          if (perm !== 0) {
            add(op, who, perm);
            perm = 0;
          }
          if (op === "=") equalDone = true;
          if (permX !== 0) {
            add("X", who, permX);
            permX = 0;
          }
          addCopy(b, who, op);
        } else {
          if (perm !== 0 || (op === "=" && !equalDone)) {
            if (op === "=") equalDone = true;
            add(op, who, perm);
          }
          if (permX !== 0) add("X", who, permX);
          break;
        }
      }
      if (s === "" || s[0] === ",") break;
    }
    if (s === "") return commands;
    s = s.slice(1);
  }
}

/**
 * The mode a file gets: `mode` (permission, setuid/setgid/sticky bits) changed by `chmod`.
 * `isDirectory` makes `X` apply even without an execute bit.
 */
export function applyChmod(chmod: ChmodMode, mode: number, isDirectory: boolean): number {
  const original = mode & 0o7777;
  let next = original;
  for (const c of chmod.commands) {
    switch (c.op) {
      case "+":
        next |= c.bits;
        break;
      case "-":
        next &= ~c.bits;
        break;
      case "X":
        if ((original & EXEC) !== 0 || isDirectory) next |= c.bits;
        break;
      default: {
        // `g=u` and friends copy one class's current bits onto others.
        const shift = c.op === "u" ? 6 : c.op === "g" ? 3 : 0;
        const value = (next >> shift) & 0o7;
        const t = c.targets!;
        if (c.clear) {
          const clear = c.set ? 0o7 : value;
          if (t.u) next &= ~((clear << 6) & c.bits);
          if (t.g) next &= ~((clear << 3) & c.bits);
          if (t.o) next &= ~(clear & c.bits);
        }
        if (c.set) {
          if (t.u) next |= (value << 6) & c.bits;
          if (t.g) next |= (value << 3) & c.bits;
          if (t.o) next |= value & c.bits;
        }
      }
    }
  }
  return (mode & ~0o7777) | (next & 0o7777);
}
