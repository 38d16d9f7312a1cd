/**
 * A Dockerfile that BuildKit would reject: the message names the line and the problem, in
 * BuildKit's wording (`dockerfile parse error on line 3: unknown instruction: FOO`).
 */
export class DockerfileSyntaxError extends SyntaxError {
  /** The 1-based line where the offending instruction starts. */
  readonly line: number;
  /** The 1-based line where it ends (the same as `line` for one-line instructions). */
  readonly endLine: number;
  /** The problem alone, without the line prefix. */
  readonly reason: string;
  /** The Dockerfile's name when the caller gave one, else `undefined`. */
  readonly file: string | undefined;

  /**
   * Creates the error; the message names the file (when given) and the line.
   *
   * @param reason What is wrong, e.g. `unknown instruction: FOO`.
   * @param line The 1-based first line of the instruction.
   * @param options `endLine` (default `line`), the `file` name and a `cause`, all optional.
   */
  constructor(
    reason: string,
    line: number,
    options: { endLine?: number; file?: string; cause?: unknown } = {},
  ) {
    super(`dockerfile parse error on line ${line}: ${reason}`, { cause: options.cause });
    this.name = "DockerfileSyntaxError";
    this.line = line;
    this.endLine = options.endLine ?? line;
    this.reason = reason;
    this.file = options.file;
  }
}

/**
 * Word expansion failed: an unterminated quote or `${`, a bad substitution, or a
 * `${var?msg}` / `${var:?msg}` whose variable is unset (or empty). The message follows
 * BuildKit: `failed to process "${A:?boom}": A: boom`.
 */
export class WordExpansionError extends Error {
  /** The word that could not be expanded. */
  readonly word: string;

  /**
   * Creates the error with BuildKit's message, which quotes the word.
   *
   * @param word The input word.
   * @param reason What is wrong with it.
   */
  constructor(word: string, reason: string) {
    super(`failed to process ${JSON.stringify(word)}: ${reason}`);
    this.name = "WordExpansionError";
    this.word = word;
  }
}

/** A RUN step failed: the exit code and the end of its output. */
export class BuildStepError extends Error {
  /** The step as written. */
  readonly instruction: string;
  /** Its 1-based line in the Dockerfile. */
  readonly line: number;
  /** The command's exit code, when a command ran. */
  readonly exitCode?: number;

  /**
   * Creates the error for the instruction at `line`.
   *
   * @param message What failed.
   */
  constructor(
    message: string,
    instruction: string,
    line: number,
    options: { exitCode?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "BuildStepError";
    this.instruction = instruction;
    this.line = line;
    this.exitCode = options.exitCode;
  }
}

/** A COPY/ADD that cannot be done: missing source, bad destination. */
export class CopyError extends Error {
  /**
   * Creates the error.
   *
   * @param message What failed, with the path.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CopyError";
  }
}
