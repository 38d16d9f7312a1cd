import { test } from "node:test";
import assert from "node:assert/strict";
import { levenshtein, suggest } from "./_suggest.ts";

test("levenshtein() counts single-character edits", () => {
  assert.equal(levenshtein("", ""), 0);
  assert.equal(levenshtein("run", "run"), 0);
  assert.equal(levenshtein("runn", "run"), 1);
  assert.equal(levenshtein("foo", "from"), 2);
  assert.equal(levenshtein("kitten", "sitting"), 3);
  assert.equal(levenshtein("한국", "한국어"), 1);
});

test("suggest() picks an option under 3 edits away, none for an exact match", () => {
  assert.equal(suggest("chmodd", ["chown", "chmod", "from"], true), "chmod");
  assert.equal(suggest("frobnicate", ["from", "run"], true), undefined);
  assert.equal(suggest("from", ["from", "form"], true), undefined);
  assert.equal(suggest("FROM", ["from"], true), undefined); // four edits apart
});

test("suggest() without case sensitivity answers in the value's case", () => {
  assert.equal(suggest("RUNN", ["RUN", "COPY"], false), "RUN");
  assert.equal(suggest("runn", ["RUN", "COPY"], false), "run");
  assert.equal(suggest("Runn", ["RUN", "COPY"], false), "run");
  assert.equal(suggest("RUN", ["RUN"], false), undefined);
});
