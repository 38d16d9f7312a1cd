import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ContextTable, type ContextTableOptions } from "./_context_table.ts";

/** Runs `body` with a table of `paths` in pages of `pageRows`, two in memory, and a spill dir. */
async function withTable(
  paths: string[],
  options: ContextTableOptions,
  body: (table: ContextTable, spillDir: string) => void | Promise<void>,
): Promise<void> {
  const spillDir = await mkdtemp(join(tmpdir(), "stratum-context-table-"));
  const table = new ContextTable({ spillDir, ...options });
  try {
    for (const [i, path] of paths.entries()) table.add(path, i % 4);
    table.done();
    await body(table, spillDir);
  } finally {
    table.close();
    await rm(spillDir, { recursive: true, force: true });
  }
}

// Sorted as JS sorts strings, by UTF-16 units: an astral character before U+D800 and U+FF5E.
// A lone surrogate comes back as it went.
const PATHS = [
  "",
  "a",
  "a b",
  "a-b",
  "a.b",
  "a/b",
  "é",
  "\ud800x",
  "\uff5e",
  "\u{1f600}",
  "\u{1f600}/x",
].sort();
const PROBES = [
  ...PATHS,
  "a/",
  "a/a",
  "a/c",
  "a0",
  "b",
  "\ud800",
  "\uffff",
  "\u{1f600}/",
  "\u{1f601}",
];

for (const pageRows of [1, 2, 4, 4096]) {
  test(`ContextTable compares in place as strings do, in pages of ${pageRows}`, async () => {
    await withTable(PATHS, { pageRows, residentPages: 2 }, (table) => {
      assert.equal(table.length, PATHS.length);
      // Twice: the second time every page comes back from the spill file.
      for (const round of [1, 2]) {
        assert.deepEqual(PATHS.map((_, i) => table.at(i)), PATHS, `round ${round}`);
        for (const [i, path] of PATHS.entries()) {
          assert.equal(table.type(i), i % 4);
          assert.equal(table.lengthOf(i), path.length);
          for (const probe of PROBES) {
            assert.equal(table.before(i, probe), path < probe, `${path} < ${probe}`);
            assert.equal(table.is(i, probe), path === probe, `${path} === ${probe}`);
            assert.equal(table.startsWith(i, probe), path.startsWith(probe), `${path} ^ ${probe}`);
          }
        }
      }
      for (const probe of PROBES) {
        for (const from of [0, 1, 5, PATHS.length]) {
          let want = from;
          while (want < PATHS.length && PATHS[want] < probe) want++;
          assert.equal(table.firstAtLeast(probe, from), want, `${probe} from ${from}`);
        }
      }
      assert.equal(table.is(-1, ""), false);
      assert.equal(table.is(PATHS.length, ""), false);
      assert.throws(() => table.at(PATHS.length), RangeError);
    });
  });
}

test("ContextTable keeps what is written to a row through its page's spill and reload", async () => {
  const count = 10_000;
  const path = (i: number) => `d${String(i % 97).padStart(2, "0")}/f${String(i).padStart(5, "0")}`;
  const paths = Array.from({ length: count }, (_, i) => path(i)).sort();
  await withTable(paths, { pageRows: 512, residentPages: 3 }, async (table, spillDir) => {
    for (let i = 0; i < count; i += 3) {
      table.setStat(i, 1, i & 0o7777, i % 5);
      table.setNumbers(i, i * 2, i + 0.25, 2 ** 40 + i);
      if (i % 2 === 0) {
        table.setKnown(i, true);
        table.digestForWrite(i).fill(i & 0xff);
      }
    }
    // Read back out of order, so pages are spilt after their change and read again.
    for (const i of [9999, 0, 5121, 3, 512, 511, 6000, 9999, 1536, 0]) {
      assert.equal(table.at(i), paths[i]);
      const set = i % 3 === 0;
      assert.equal(table.statted(i), set, `${i} statted`);
      assert.equal(table.type(i), set ? 1 : i % 4, `${i} type`);
      assert.equal(table.mode(i), set ? i & 0o7777 : 0);
      assert.equal(table.nlink(i), set ? i % 5 : 0);
      assert.deepEqual(
        [table.number(i, 0), table.number(i, 1), table.number(i, 2)],
        set ? [i * 2, i + 0.25, 2 ** 40 + i] : [0, 0, 0],
      );
      assert.equal(table.known(i), set && i % 2 === 0, `${i} known`);
      if (table.known(i)) assert.deepEqual([...table.digest(i)], Array(32).fill(i & 0xff));
    }
    table.setKnown(0, false);
    assert.equal(table.known(0), false);
    assert.equal(table.statted(0), true, "other flags stay");
    for (let i = 0; i < count; i += 997) assert.equal(table.firstAtLeast(paths[i], 0), i);
    assert.deepEqual(await readdir(spillDir), [], "the spill file has no name");
  });
});

test("ContextTable without a spill directory keeps every page", () => {
  const table = new ContextTable({ pageRows: 2, residentPages: 2 });
  for (const path of ["", "a", "b", "c", "d"]) table.add(path, 0);
  table.done();
  assert.deepEqual([0, 1, 2, 3, 4].map((i) => table.at(i)), ["", "a", "b", "c", "d"]);
  assert.throws(() => table.add("e", 0), /complete/);
  assert.throws(() => new ContextTable({ pageRows: 3 }), RangeError);
});
