import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type HeaderFacts, prepareDirectApply, WrittenHeaders } from "./_direct_apply.ts";

test("WrittenHeaders gives back each header's name, type and link, in order", () => {
  const noted = new WrittenHeaders();
  const headers = [
    { name: "app/", type: "directory" as const, linkname: "" },
    { name: "app/a", type: "file" as const, linkname: "" },
    { name: "app/b", type: "file" as const },
    { name: "app/c", type: "hardlink" as const, linkname: "app/a" },
    { name: "app/d", type: "symlink" as const, linkname: "a" },
  ];
  for (const h of headers) noted.add(h);
  assert.deepEqual([...noted], [
    { name: "app/", type: "directory", linkname: "" },
    { name: "app/a", type: "file", linkname: "" },
    { name: "app/b", type: "file", linkname: "" },
    { name: "app/c", type: "hardlink", linkname: "app/a" },
    { name: "app/d", type: "symlink", linkname: "a" },
  ]);
  assert.deepEqual([...noted], [...noted], "read as often as asked");
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
