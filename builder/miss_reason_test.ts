import assert from "node:assert/strict";
import { test } from "node:test";
import { type KeyComponents, keyed, type RunStep } from "./build_cache.ts";
import { explainMiss } from "./miss_reason.ts";

const utf8 = (text: string) => new TextEncoder().encode(text);

async function run(components: KeyComponents): Promise<RunStep> {
  const { key, json } = await keyed(components);
  return { position: "0/1", label: "step", key, components: utf8(json as string) };
}

async function explain(before: KeyComponents, after: KeyComponents, earlier?: string) {
  const now = await keyed(after);
  return explainMiss(utf8(now.json as string), await run(before), earlier, now.key);
}

test("a miss names each context file, ARG and input that changed, in name order", async () => {
  const base = { parent: "p", instruction: "COPY . /" };
  // Names that sort differently as JSON text than as names (a blank and "!" sort before
  // the closing quote; escapes), and values that need escaping.
  const before = {
    ...base,
    args: { A: "1", B: "x y" },
    inputs: {
      "ctx:a": "644:1",
      "ctx:a b": "644:2",
      "ctx:a!": "644:3",
      'ctx:a"q': "link:\\x",
      "ctx:gone": "dir:755",
      "ctx:\u00e9": "644:5",
      "ctx:\uff5e": "644:6",
      "ctx:\u{1f600}": "644:7",
      "stage:build": "sha256:s",
    },
  };
  const after = {
    ...base,
    args: { A: "2", B: "x y", C: "new" },
    inputs: {
      "ctx:a": "644:1",
      "ctx:a b": "644:9",
      "ctx:a!": "644:3",
      'ctx:a"q': "link:\\y",
      "ctx:added": "644:4",
      "ctx:\u00e9": "644:5",
      "ctx:\uff5e": "644:8",
      "ctx:\u{1f600}": "644:7",
      "ctx:\t": "644:9",
      "stage:build": "sha256:t",
    },
  };
  assert.equal(
    await explain(before, after),
    'ARG A changed (was "1", now "2"); ARG C added; context file \t added; ' +
      'context file a b changed; context file a"q changed; context file added added; ' +
      "context file gone removed; context file \uff5e changed; stage build changed",
  );
});

test("a miss with the same inputs names the instruction, then an earlier step", async () => {
  const inputs = { "ctx:a": "644:1" };
  assert.equal(
    await explain({ parent: "p", instruction: "RUN a", inputs }, {
      parent: "p",
      instruction: "RUN b",
      inputs,
    }),
    "the instruction changed (was: RUN a)",
  );
  assert.equal(
    await explain(
      { parent: "p", instruction: "RUN a" },
      { parent: "q", instruction: "RUN a" },
      "X",
    ),
    "an earlier step changed: X",
  );
  assert.equal(
    await explain({ parent: "p", instruction: "RUN a" }, { parent: "q", instruction: "RUN a" }),
    "an earlier step changed",
  );
  const same = await keyed({ parent: "p", instruction: "RUN a" });
  assert.equal(
    explainMiss(
      utf8(same.json as string),
      await run({ parent: "p", instruction: "RUN a" }),
      undefined,
      same.key,
    ),
    "its cache entry is gone (pruned, or its layers were removed)",
  );
  assert.equal(
    explainMiss(utf8(same.json as string), undefined, undefined, same.key),
    "no earlier build of this step",
  );
});

test("a recorded step that is not canonical JSON of an object is called unreadable", () => {
  for (const components of ["", "[]", '{"a"}', '{"a":"b"', '{"a":"b" , "c":1}']) {
    const previous = { position: "0/1", label: "x", key: "k1", components: utf8(components) };
    assert.equal(
      explainMiss(utf8('{"instruction":"RUN a"}'), previous, undefined, "k2"),
      "the last build's record of this step is unreadable",
      components,
    );
  }
});
