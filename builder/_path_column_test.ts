import assert from "node:assert/strict";
import { test } from "node:test";
import { PathColumnBuilder } from "./_path_column.ts";

test("PathColumn gives back each path and compares in place as strings do", () => {
  // Sorted as JS sorts strings: by UTF-16 units, so U+FF5E before an astral character.
  const paths = ["", "a", "a b", "a-b", "a.b", "a/b", "é", "\uff5e", "\u{1f600}", "\u{1f600}/x"];
  const builder = new PathColumnBuilder();
  for (const path of paths) builder.add(path);
  const column = builder.done();
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
});

test("PathColumnBuilder keeps every path past its chunks and growths", () => {
  const builder = new PathColumnBuilder();
  const path = (i: number) => `d${i % 97}/f${i}`;
  const count = 10_000;
  for (let i = 0; i < count; i++) builder.add(path(i));
  const column = builder.done();
  assert.equal(column.length, count);
  for (const i of [0, 4095, 4096, 4097, 8191, 8192, count - 1]) assert.equal(column.at(i), path(i));
});
