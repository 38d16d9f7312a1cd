import assert from "node:assert/strict";
import { test } from "node:test";
import { type KeyComponents, keyed, type RunStep } from "./build_cache.ts";
import { explainMiss } from "./miss_reason.ts";

const utf8 = (text: string) => new TextEncoder().encode(text);

async function run(components: KeyComponents): Promise<RunStep> {
  const { key, json } = await keyed(components);
  return { position: "0/1", label: "step", key, components: utf8(json as string) };
}

/** `bytes` read `size` bytes at a time, as a file is. */
function pieces(bytes: Uint8Array, size: number): (into: Uint8Array) => Promise<number> {
  let at = 0;
  return (into) => {
    const n = Math.min(size, into.length, bytes.length - at);
    into.set(bytes.subarray(at, at + n));
    at += n;
    return Promise.resolve(n);
  };
}

/** The reason, the same whether the two are whole or read in pieces of any size. */
async function explain(before: KeyComponents, after: KeyComponents, earlier?: string) {
  const now = await keyed(after);
  const was = await run(before);
  const whole = await explainMiss(utf8(now.json as string), was, earlier, now.key);
  for (const size of [1, 2, 3, 5, 64]) {
    const read = (step: RunStep) => pieces(step.components as Uint8Array, size);
    assert.equal(
      await explainMiss(
        read({ ...was, components: utf8(now.json as string) }),
        {
          ...was,
          components: read(was),
        },
        earlier,
        now.key,
      ),
      whole,
      `read ${size} bytes at a time`,
    );
  }
  return whole;
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
    await explainMiss(
      utf8(same.json as string),
      await run({ parent: "p", instruction: "RUN a" }),
      undefined,
      same.key,
    ),
    "its cache entry is gone (pruned, or its layers were removed)",
  );
  assert.equal(
    await explainMiss(utf8(same.json as string), undefined, undefined, same.key),
    "no earlier build of this step",
  );
});

test("a recorded step that is not canonical JSON of an object is called unreadable", async () => {
  const damaged = [
    "",
    "[]",
    '{"a"}',
    '{"a":"b"',
    '{"a":"b" , "c":1}',
    '{"inputs":{"ctx:a":"1"',
    '{"inputs":{"ctx:a":}}',
    '{"inputs":{"ctx:a":"1\\"}}',
    '{"a":{"b":[1,2}',
  ];
  for (const components of damaged) {
    for (const size of [1, 4, 1000]) {
      const previous = {
        position: "0/1",
        label: "x",
        key: "k1",
        components: pieces(utf8(components), size),
      };
      assert.equal(
        await explainMiss(utf8('{"instruction":"RUN a","inputs":{}}'), previous, undefined, "k2"),
        "the last build's record of this step is unreadable",
        components,
      );
    }
  }
});

test("a miss names the first 20 changes and counts the rest", async () => {
  const inputs = (value: string) =>
    Object.fromEntries(
      Array.from({ length: 25 }, (_, i) => [`ctx:f${String(i).padStart(2, "0")}`, value]),
    );
  const reason = await explain(
    { parent: "p", instruction: "COPY . /", args: { A: "1" }, inputs: inputs("1") },
    { parent: "p", instruction: "COPY . /", args: { A: "2" }, inputs: inputs("2") },
  );
  const named = reason.split("; ");
  assert.equal(named.length, 21);
  assert.equal(named[0], 'ARG A changed (was "1", now "2")');
  assert.equal(named[1], "context file f00 changed");
  assert.equal(named[19], "context file f18 changed");
  assert.equal(named[20], "and 6 more");
});
