/**
 * `stratum ARGS...` as a process of its own, for tests that run several at once: the CLI
 * entry through `main`, since `import.meta.main` is not there on Node 20.
 */
import process from "node:process";
import { main } from "../cli.ts";

process.exitCode = await main(process.argv.slice(2));
