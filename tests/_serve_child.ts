/**
 * `stratum --root ROOT serve ARGS...` in its own process (serve runs until a signal), for
 * tests that need the CLI's own wiring of the server. Prints what serve prints, so the
 * caller reads `listening on URL`.
 */
import process from "node:process";
import { main } from "../cli.ts";

const [root, ...args] = process.argv.slice(2);
const line = (l: string) => void process.stdout.write(l + "\n");
process.exitCode = await main(["--root", root, "serve", ...args], {
  out: line,
  err: line,
  write: (d) => void process.stdout.write(d),
});
