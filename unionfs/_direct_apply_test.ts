import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { DirectApplyPlan, type HeaderFacts, prepareDirectApply } from "./_direct_apply.ts";

test("DirectApplyPlan answers for every path of a large layer without a string per name", async () => {
  const merged = await mkdtemp(join(tmpdir(), "stratum-direct-"));
  try {
    // Files in path order: a hundred full chunks of the plan's set, so the last is in one.
    const count = 102_400;
    const name = (i: number) => `app/f${String(i).padStart(6, "0")}`;
    const planOf = (last: HeaderFacts[]) => {
      const plan = new DirectApplyPlan();
      plan.add({ name: "app/", type: "directory" });
      for (let i = 0; i < count; i++) plan.add({ name: name(i), type: "file" });
      for (const header of last) plan.add(header);
      return plan;
    };
    const cases: [string, HeaderFacts[], boolean][] = [
      ["only files", [], true],
      ["a hardlink to the first", [{ name: "app/z", type: "hardlink", linkname: name(0) }], true],
      [
        "a hardlink to the last",
        [{ name: "app/z", type: "hardlink", linkname: name(count - 1) }],
        true,
      ],
      ["a hardlink to one between", [
        { name: "app/z", type: "hardlink", linkname: name(54_321) },
      ], true],
      ["a hardlink to a path not written", [
        { name: "app/z", type: "hardlink", linkname: "app/f1" },
      ], false],
      ["a file of the layer as a parent", [{ name: `${name(count - 1)}/x`, type: "file" }], false],
    ];
    for (const [what, last, direct] of cases) {
      assert.equal(await prepareDirectApply(planOf(last), merged), direct, what);
    }
  } finally {
    await rm(merged, { recursive: true, force: true });
  }
});

test("prepareDirectApply() takes a layer in path order that only adds, and nothing else", async () => {
  const merged = await mkdtemp(join(tmpdir(), "stratum-direct-"));
  try {
    await mkdir(join(merged, "lower-dir"));
    await symlink("lower-dir", join(merged, "lower-link"));
    const d = (name: string) => ({ name: `${name}/`, type: "directory" as const });
    const f = (name: string) => ({ name, type: "file" as const });
    const cases: [string, HeaderFacts[], boolean][] = [
      [
        "a copy in path order",
        [
          d("app"),
          d("app/a"),
          f("app/a-b"),
          d("app/a.d"),
          f("app/a/x"),
          f("new/y"),
        ],
        true,
      ],
      ["below a lower directory", [f("lower-dir/new")], true],
      [
        "a hardlink to a file before it",
        [f("a"), { name: "b", type: "hardlink", linkname: "a" }],
        true,
      ],
      ["out of path order", [f("b"), f("a")], false],
      ["a path given twice", [f("p"), d("p"), f("p/x")], false],
      ["a whiteout", [f("a"), f(".wh.b")], false],
      ["a hardlink to a lower file", [{ name: "h", type: "hardlink", linkname: "lower" }], false],
      [
        "a hardlink to a directory",
        [d("a"), { name: "b", type: "hardlink", linkname: "a" }],
        false,
      ],
      ["a file of the layer as a parent", [f("p"), f("p/x")], false],
      ["a symlink of the layer as a parent", [
        { name: "s", type: "symlink", linkname: "lower-dir" },
        f("s/x"),
      ], false],
      ["a path through a lower symlink", [f("lower-link/x")], false],
    ];
    for (const [name, headers, direct] of cases) {
      assert.equal(await prepareDirectApply(headers, merged), direct, name);
    }
  } finally {
    await rm(merged, { recursive: true, force: true });
  }
});
