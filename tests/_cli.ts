/** Runs the stratum CLI in-process and captures what it prints. */
import { main } from "../cli.ts";

/** The exit code and the lines printed. */
export interface CliRun {
  /** Exit code. */
  code: number;
  /** Standard output, lines joined with "\n". */
  stdout: string;
  /** Standard error, lines joined with "\n". */
  stderr: string;
}

/** Runs `stratum --root ROOT ...args`. */
export async function stratum(root: string, ...args: string[]): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  let raw = "";
  const code = await main(["--root", root, ...args], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    write: (d) => void (raw += typeof d === "string" ? d : new TextDecoder().decode(d)),
  });
  return { code, stdout: raw + out.join("\n"), stderr: err.join("\n") };
}
