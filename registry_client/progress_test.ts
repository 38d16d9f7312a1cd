import assert from "node:assert/strict";
import { test } from "node:test";
import { createProgressRenderer, formatBytes } from "./progress.ts";

const digest = `sha256:${"ab".repeat(32)}` as const;

test("the plain renderer prints one line per state change, none per byte", () => {
  const out: string[] = [];
  const r = createProgressRenderer((t) => out.push(t));
  r.update({ type: "status", message: "v1: Pulling from x" });
  r.update({ type: "blob", digest, size: 10, state: "Waiting", current: 0 });
  r.update({ type: "blob", digest, size: 10, state: "Downloading", current: 3 });
  r.update({ type: "blob", digest, size: 10, state: "Downloading", current: 6 });
  r.update({ type: "blob", digest, size: 10, state: "Download complete", current: 10 });
  assert.deepEqual(out, [
    "v1: Pulling from x\n",
    "abababababab: Waiting\n",
    "abababababab: Downloading\n",
    "abababababab: Download complete\n",
  ]);
});

test("the TTY renderer redraws its lines in place with bytes and rate", () => {
  const out: string[] = [];
  let now = 0;
  const r = createProgressRenderer((t) => out.push(t), { tty: true, now: () => now });
  r.update({ type: "blob", digest, size: 2_000_000, state: "Downloading", current: 0 });
  now = 1000;
  r.update({ type: "blob", digest, size: 2_000_000, state: "Downloading", current: 1_000_000 });
  r.done();
  const last = out.at(-1)!;
  assert.ok(last.startsWith("\x1b[1A\x1b[2K"), JSON.stringify(last));
  assert.match(last, /abababababab: Downloading \[=+>\s*\] 1.00MB\/2.00MB 1.00MB\/s/);
});

test("quiet prints only warnings", () => {
  const out: string[] = [];
  const r = createProgressRenderer((t) => out.push(t), { quiet: true });
  r.update({ type: "blob", digest, size: 1, state: "Pushed", current: 1 });
  r.update({ type: "status", message: "Digest: sha256:x" });
  r.update({ type: "status", message: "Warning: docker.io pull rate limit low: 3 left" });
  assert.deepEqual(out, ["Warning: docker.io pull rate limit low: 3 left\n"]);
});

test("formatBytes() uses docker's decimal units", () => {
  assert.equal(formatBytes(999), "999B");
  assert.equal(formatBytes(1500), "1.50kB");
  assert.equal(formatBytes(123_400_000), "123MB");
});

test("push on a TTY draws a bar per layer with bytes and speed; plain output stays lines", () => {
  const other = `sha256:${"cd".repeat(32)}` as const;
  const out: string[] = [];
  let now = 0;
  const r = createProgressRenderer((t) => out.push(t), { tty: true, now: () => now });
  r.update({ type: "status", message: "The push refers to repository [x/app]" });
  r.update({ type: "blob", digest, size: 40_000_000, state: "Pushing", current: 0 });
  r.update({ type: "blob", digest: other, size: 2_000, state: "Already exists", current: 2_000 });
  now = 2000;
  r.update({ type: "blob", digest, size: 40_000_000, state: "Pushing", current: 16_000_000 });
  r.done();
  const frame = out.at(-1)!.split("\n");
  assert.match(frame[1], /abababababab: Pushing \[=+>\s+\] 16.0MB\/40.0MB 8.00MB\/s$/);
  assert.match(frame[2], /cdcdcdcdcdcd: Already exists$/);

  const plain: string[] = [];
  const p = createProgressRenderer((t) => plain.push(t));
  p.update({ type: "blob", digest, size: 40_000_000, state: "Pushing", current: 0 });
  p.update({ type: "blob", digest, size: 40_000_000, state: "Pushing", current: 16_000_000 });
  p.update({ type: "blob", digest, size: 40_000_000, state: "Pushed", current: 40_000_000 });
  assert.deepEqual(plain, ["abababababab: Pushing\n", "abababababab: Pushed\n"]);
});
