import { test } from "node:test";
import assert from "node:assert/strict";
import { applyChmod, ChmodSyntaxError, parseChmod } from "./chmod_mode.ts";

// tonistiigi/dchapes-mode's TestApply rows with no umask (BuildKit applies none), plus `=X`:
// [mode, before, after, is a directory]. 0o4000/0o2000/0o1000 are setuid/setgid/sticky.
const rows: Array<[string, number, number, boolean]> = [
  ["=", 0o777, 0o0, false],
  ["+", 0o777, 0o777, false],
  ["+", 0o421, 0o421, false],
  ["-", 0o777, 0o777, false],
  ["-", 0o421, 0o421, false],
  ["+t", 0o421, 0o1421, false],
  ["-t", 0o1421, 0o421, false],
  ["u+r", 0o0, 0o400, false],
  ["u+w", 0o0, 0o200, false],
  ["u+x", 0o0, 0o100, false],
  ["u+X", 0o0, 0o0, false],
  ["u+X", 0o1, 0o101, false],
  ["u+X", 0o0, 0o100, true],
  ["u+s", 0o0, 0o4000, false],
  ["g+r", 0o0, 0o40, false],
  ["g+w", 0o0, 0o20, false],
  ["g+x", 0o0, 0o10, false],
  ["g+X", 0o0, 0o0, false],
  ["g+X", 0o100, 0o110, false],
  ["g+X", 0o0, 0o10, true],
  ["g+s", 0o0, 0o2000, false],
  ["o+r", 0o0, 0o4, false],
  ["o+w", 0o0, 0o2, false],
  ["o+x", 0o0, 0o1, false],
  ["o+X", 0o0, 0o0, false],
  ["o+X", 0o100, 0o101, false],
  ["o+X", 0o0, 0o1, true],
  ["o+s", 0o0, 0o0, false],
  ["0421", 0o0, 0o421, false],
  ["07421", 0o0, 0o7421, false],
  ["+r", 0o0, 0o444, false],
  ["+w", 0o0, 0o222, false],
  ["+x", 0o0, 0o111, false],
  ["+X", 0o0, 0o0, false],
  ["+X", 0o10, 0o111, false],
  ["+X", 0o0, 0o111, true],
  ["+s", 0o0, 0o6000, false],
  ["-r", 0o777, 0o333, false],
  ["-w", 0o777, 0o555, false],
  ["-x", 0o777, 0o666, false],
  // The table says 777 for these four; the dchapes-mode BuildKit vendors (2025-03-18) makes
  // `-X` clear execute bits like `-x` (and `=X` sets them like `+X`).
  ["-X", 0o777, 0o666, false],
  ["-X", 0o777, 0o666, true],
  ["-s", 0o6777, 0o777, false],
  ["u-r", 0o777, 0o377, false],
  ["u-w", 0o777, 0o577, false],
  ["u-x", 0o777, 0o677, false],
  ["u-X", 0o777, 0o677, false],
  ["u-X", 0o777, 0o677, true],
  ["u-s", 0o4777, 0o777, false],
  ["u=rw", 0o0, 0o600, false],
  ["u=rw", 0o777, 0o677, false],
  ["u=", 0o777, 0o77, false],
  ["=rw", 0o0, 0o666, false],
  ["=rw", 0o777, 0o666, false],
  ["u=g", 0o42, 0o442, false],
  ["u=g", 0o742, 0o442, false],
  ["u=g-w", 0o722, 0o22, false],
  ["u=g-w", 0o742, 0o442, false],
  ["u=g-w", 0o762, 0o462, false],
  ["u=g-w", 0o772, 0o572, false],
  ["u+o", 0o21, 0o121, false],
  ["u+g", 0o21, 0o221, false],
  ["u+go", 0o21, 0o321, false],
  ["a=r,ug=rw,u+x", 0o0, 0o764, false],
  ["a=r,ug=rw,u+x", 0o777, 0o764, false],
  ["o+r,g+w,a+t,g-s,u+og", 0o0, 0o1624, false],
  ["o+r,g+w,a+t,g-s,u+og", 0o2100, 0o1724, false],
  ["644", 0o777, 0o644, false],
  ["go-w", 0o777, 0o755, false],
  ["u=rwx,go=rx", 0o0, 0o755, false],
  ["u=rwx,go=u-w", 0o0, 0o755, false],
  ["go=", 0o777, 0o700, false],
  ["go=u-w", 0o770, 0o755, false],
  ["go=u-w", 0o670, 0o644, false],
  ["go=u-w", 0o570, 0o555, false],
  ["go=u-w", 0o370, 0o311, false],
  ["o+r,g+w,a+t,g-s,u+og", 0o6000, 0o5624, true],
  ["u=rwX", 0o000, 0o600, false],
  ["u=rwX", 0o010, 0o710, false],
  ["a=rX", 0o000, 0o555, true],
];

for (const [text, before, after, directory] of rows) {
  const what = directory ? "directory" : "file";
  test(`--chmod=${text} turns a ${what} of ${before.toString(8)} into ${after.toString(8)}`, () => {
    assert.equal(applyChmod(parseChmod(text), before, directory).toString(8), after.toString(8));
  });
}

test("parseChmod() refuses what BuildKit refuses, numeric values in its words", () => {
  const octal = "it should be octal string and between 0 and 07777";
  for (const text of ["9", "017777", "0o755", "7a"]) {
    assert.throws(() => parseChmod(text), (e: unknown) => {
      assert.ok(e instanceof ChmodSyntaxError && e instanceof SyntaxError);
      assert.equal((e as Error).message, `invalid chmod parameter: '${text}'. ${octal}`);
      return true;
    });
  }
  // The rest of dchapes-mode's TestParseError table.
  for (const text of ["", ",", "q+r", "z", "u", "g", "o", "go", "u+x,", "+755", "U+x"]) {
    assert.throws(() => parseChmod(text), ChmodSyntaxError, text);
  }
});

test("applyChmod() keeps the file-type bits above the permission bits", () => {
  assert.equal(applyChmod(parseChmod("go-w"), 0o100777, false), 0o100755);
  assert.equal(applyChmod(parseChmod("600"), 0o40755, true), 0o40600);
});
