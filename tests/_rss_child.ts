/**
 * The stratum CLI in a process of its own that reports its peak resident memory:
 *   _rss_child ARGS...
 * runs `main(ARGS)` and then prints `VmHWM <kB>` (from /proc/self/status, the kernel's
 * high-water mark of this process's RSS) as the last line of standard error, just before it
 * exits, so a memory test reads the true peak rather than sampling it from outside.
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { main } from "../cli.ts";

const code = await main(process.argv.slice(2));
const status = readFileSync("/proc/self/status", "utf8");
process.stderr.write(`VmHWM ${/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? "?"}\n`);
process.exitCode = code;
