import assert from "node:assert/strict";
import { test } from "node:test";
import { WrittenHeaders } from "./_direct_apply.ts";

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
