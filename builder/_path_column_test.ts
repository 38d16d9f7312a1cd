import assert from "node:assert/strict";
import { test } from "node:test";
import { PathColumn } from "./_path_column.ts";

test("PathColumn gives back each path and compares in place as strings do", () => {
  // Sorted as JS sorts strings: by UTF-16 units, so U+FF5E before an astral character.
  const paths = ["", "a", "a b", "a-b", "a.b", "a/b", "é", "\uff5e", "\u{1f600}", "\u{1f600}/x"];
  const column = new PathColumn(paths, paths.length);
  assert.equal(column.length, paths.length);
  assert.deepEqual(paths.map((_, i) => column.at(i)), paths);
  const probes = [...paths, "a/", "a/a", "a/c", "b", "\uffff", "\u{1f600}/", "\u{1f601}"];
  for (const [i, path] of paths.entries()) {
    for (const probe of probes) {
      assert.equal(column.before(i, probe), path < probe, `${path} < ${probe}`);
      assert.equal(column.is(i, probe), path === probe, `${path} === ${probe}`);
      assert.equal(column.startsWith(i, probe), path.startsWith(probe), `${path} ^ ${probe}`);
    }
  }
  assert.equal(column.is(-1, ""), false);
  assert.equal(column.is(paths.length, ""), false);
  assert.throws(() => new PathColumn(["a"], 2), RangeError);
});
