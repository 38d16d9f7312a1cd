import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseDockerfile, toParseJson } from "./parser.ts";
import { DockerfileSyntaxError } from "./errors.ts";

const testdata = fileURLToPath(new URL("./testdata/", import.meta.url));

describe("parseDockerfile() on the fixture corpus", () => {
  for (const name of readdirSync(testdata + "parse").sort()) {
    test(`reads testdata/parse/${name} as its parse.json says`, () => {
      const source = readFileSync(`${testdata}parse/${name}/Dockerfile`);
      const expected = readFileSync(`${testdata}parse/${name}/parse.json`, "utf8");
      assert.deepEqual(JSON.parse(toParseJson(parseDockerfile(source))), JSON.parse(expected));
    });
  }

  for (const name of readdirSync(testdata + "errors").sort()) {
    const want = JSON.parse(readFileSync(`${testdata}errors/${name}/error.json`, "utf8"));
    test(`rejects testdata/errors/${name} on line ${want.line}: ${want.reason}`, () => {
      const source = readFileSync(`${testdata}errors/${name}/Dockerfile`, "utf8");
      assert.throws(() => parseDockerfile(source), (error: unknown) => {
        assert.ok(error instanceof DockerfileSyntaxError);
        assert.ok(error instanceof SyntaxError);
        assert.equal(error.line, want.line);
        assert.equal(error.reason, want.reason);
        assert.equal(
          error.message,
          `dockerfile parse error on line ${want.line}: ${want.reason}`,
        );
        return true;
      });
    });
  }
});

describe("parseDockerfile()", () => {
  test("accepts bytes and skips a UTF-8 byte-order mark", () => {
    const bytes = new TextEncoder().encode("\uFEFFFROM alpine\n");
    const parsed = parseDockerfile(bytes);
    assert.deepEqual(parsed.instructions[0].args, ["alpine"]);
  });

  test("records the file name on errors when given one", () => {
    assert.throws(
      () => parseDockerfile("FROM a\nBOGUS\n", { file: "build/Dockerfile" }),
      (error: unknown) => {
        assert.ok(error instanceof DockerfileSyntaxError);
        assert.equal(error.file, "build/Dockerfile");
        assert.equal(error.line, 2);
        return true;
      },
    );
  });

  test("reads keywords in any case and reports them lower-case", () => {
    const parsed = parseDockerfile("fRoM alpine\nRuN true\n");
    assert.deepEqual(parsed.instructions.map((i) => i.keyword), ["from", "run"]);
  });

  test("stops looking for directives at the first other line", () => {
    const parsed = parseDockerfile("\n# escape=`\nFROM a\nRUN a \\\n b\n");
    assert.deepEqual(parsed.directives, []);
    assert.equal(parsed.escapeToken, "\\");
    assert.deepEqual(parsed.instructions[1].args, ["a  b"]);
  });

  test("keeps instructions whose continuation runs off the end of the file", () => {
    const parsed = parseDockerfile("FROM a\nRUN echo \\");
    assert.deepEqual(parsed.instructions[1].args, ["echo"]);
  });

  test("prints parse JSON with the keyword, flags, form and arguments first", () => {
    const json = JSON.parse(toParseJson(parseDockerfile("FROM --platform=linux/arm64 a\n")));
    assert.deepEqual(Object.keys(json), [
      "directives",
      "escapeToken",
      "instructions",
      "warnings",
      "trailingComments",
    ]);
    assert.deepEqual(Object.keys(json.instructions[0]).slice(0, 4), [
      "keyword",
      "flags",
      "json",
      "args",
    ]);
    assert.deepEqual(json.instructions[0].flags, ["--platform=linux/arm64"]);
  });

  test("numbers lines right through thousands of continued instructions", () => {
    const lines = ["FROM alpine"];
    for (let i = 0; i < 5000; i++) lines.push(`RUN echo ${i} \\`, `  && true`);
    const parsed = parseDockerfile(lines.join("\n") + "\n");
    assert.equal(parsed.instructions.length, 5001);
    assert.equal(parsed.instructions[5000].endLine, 10001);
  });
});
