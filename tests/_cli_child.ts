/**
 * The stratum CLI in a process of its own, started the way the npm package's bin starts it
 * (for cli_epipe_test, which needs real pipes):
 *   _cli_child [--after-stdin] ARGS...
 * With `--after-stdin` the CLI runs only once standard input has ended, so that the test can
 * close its end of the stdout pipe first and every write meets a closed pipe.
 */
import process from "node:process";
import { main } from "../cli.ts";

const args = process.argv.slice(2);
if (args[0] === "--after-stdin") {
  args.shift();
  for await (const _ of process.stdin) { /* drained until the test ends it */ }
}
process.exitCode = await main(args);
