/**
 * Spawning a helper script of the test suite with the runtime running the tests: `deno
 * run -A x.ts` under Deno, `node x.js` on the npm build (where tests are compiled to .js).
 */
import { type ChildProcess, spawn, type SpawnOptions } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** Starts `tests/<name>.ts` (or `.js`) next to the calling test with `args`. */
export function spawnTestScript(
  callerUrl: string,
  name: string,
  args: string[],
  options: SpawnOptions = {},
): ChildProcess {
  const ext = callerUrl.endsWith(".js") ? "js" : "ts";
  const script = fileURLToPath(new URL(`./${name}.${ext}`, callerUrl));
  const runtimeArgs = process.versions.deno ? ["run", "-A", script] : [script];
  return spawn(process.execPath, [...runtimeArgs, ...args], options);
}
