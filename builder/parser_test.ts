import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseHeredocWord } from "./heredoc.ts";
import { parseDockerfile } from "./parser.ts";
import { DockerfileSyntaxError } from "./errors.ts";
import { formatDockerfile, toParseJson } from "./format.ts";

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

// BuildKit's own parser tables (frontend/dockerfile/parser: json_test.go, the
// jeztah-invalid-json-* and json test files, testfiles-negative, parser_heredoc_test.go).
describe("parseDockerfile() on BuildKit's JSON tables", () => {
  const cmd = (line: string) => parseDockerfile(`FROM a\n${line}\n`).instructions[1];

  const valid: Array<[string, string[]]> = [
    [`[]`, []],
    [`[""]`, [""]],
    [`["a"]`, ["a"]],
    [`["a","b"]`, ["a", "b"]],
    [`[ "a", "b" ]`, ["a", "b"]],
    [`[\t"a",\t"b"\t]`, ["a", "b"]],
    [`\t[\t"a",\t"b"\t]\t`, ["a", "b"]],
    [
      `["abc 123", "♥", "☃", "\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0000"]`,
      ["abc 123", "♥", "☃", '" \\ / \b \f \n \r \t \u0000'],
    ],
  ];
  for (const [json, args] of valid) {
    test(`reads CMD ${JSON.stringify(json)} as exec form`, () => {
      const instruction = cmd(`CMD ${json}`);
      assert.equal(instruction.json, true);
      assert.deepEqual(instruction.args, args);
    });
  }

  const notStrings = [
    `["a",42,"b"]`,
    `["a",123.456,"b"]`,
    `["a",{},"b"]`,
    `["a",{"c": "d"},"b"]`,
    `["a",["c"],"b"]`,
    `["a",true,"b"]`,
    `["a",false,"b"]`,
    `["a",null,"b"]`,
    `[ "echo", [ "nested json" ] ]`,
  ];
  for (const json of notStrings) {
    test(`rejects CMD ${json}: an array of more than strings`, () => {
      assert.throws(() => cmd(`CMD ${json}`), {
        name: "DockerfileSyntaxError",
        message:
          "dockerfile parse error on line 2: when using JSON array syntax, arrays must be comprised of strings only",
      });
    });
  }

  // Not JSON at all: the text is a shell-form command, kept as written.
  const shellForm = [
    `"[\\"echo\\", \\"Phew, I just managed to escaped those double quotes\\"]"`,
    `'["echo", "Well, JSON in a string is JSON too?"]'`,
    `['echo','single quotes are invalid JSON']`,
    `["echo", "Please, close the brackets when you're done"`,
    `["echo", "look ma, no quote!]`,
    // Text after the array makes it shell form (BuildKit since dockerfile/1.9.0; the
    // frontend in Docker 20.10 ignored the text and ran the array).
    `["nginx", "-g", "daemon off;"] # run nginx`,
    `[1]x`,
    `["a"] ["b"]`,
    `{"a": "b"}`,
  ];
  for (const text of shellForm) {
    test(`reads CMD ${text} as shell form`, () => {
      const instruction = cmd(`CMD ${text}`);
      assert.equal(instruction.json, false);
      assert.deepEqual(instruction.args, [text]);
    });
  }

  test("applies the trailing-text rule to every instruction with an exec form", () => {
    for (const keyword of ["RUN", "ENTRYPOINT"]) {
      const instruction = cmd(`${keyword} ["a", "b"] c`);
      assert.equal(instruction.json, false, keyword);
      assert.deepEqual(instruction.args, [`["a", "b"] c`], keyword);
    }
    for (const keyword of ["COPY", "ADD", "VOLUME"]) {
      const instruction = cmd(`${keyword} ["a", "b"] c`);
      assert.equal(instruction.json, false, keyword);
      assert.deepEqual(instruction.args, [`["a",`, `"b"]`, "c"], keyword);
    }
    const health = cmd(`HEALTHCHECK CMD ["a", "b"] c`);
    assert.equal(health.json, false);
    assert.deepEqual(health.args, ["CMD", `["a", "b"] c`]);
    assert.equal(cmd(`HEALTHCHECK CMD ["a", "b"]`).json, true);
  });

  test("rejects the SHELL whose array is followed by text: it is no longer JSON form", () => {
    assert.throws(() => cmd(`SHELL ["/bin/sh", "-c"] x`), {
      message: /line 2: SHELL requires the arguments to be in JSON form$/,
    });
  });

  test("rejects files of only comments, or empty, and ENV without a value", () => {
    assert.throws(() => parseDockerfile("# Hello\n# These are just comments\n\n"), {
      message: /file with no instructions/,
    });
    assert.throws(() => parseDockerfile(""), { message: /file with no instructions/ });
    assert.throws(() => parseDockerfile("FROM busybox\n\nENV PATH\n"), {
      message: "dockerfile parse error on line 3: ENV must have two arguments",
    });
  });
});

describe("heredoc words, BuildKit's parser_heredoc_test.go tables", () => {
  const valid = [
    "<<EOF",
    "<<'EOF'",
    `<<"EOF"`,
    "<<-EOF",
    "<<-'EOF'",
    `<<-"EOF"`,
    `<<EO"F"`,
    "<< EOF",
    "<<- EOF",
  ];
  for (const word of valid) {
    test(`parseHeredocWord() reads ${word} as the heredoc EOF`, () => {
      assert.equal(parseHeredocWord(word)?.name, "EOF");
    });
  }
  for (const word of ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"]) {
    test(`parseHeredocWord() reads ${JSON.stringify(word)} as no heredoc`, () => {
      assert.equal(parseHeredocWord(word), undefined);
    });
  }
  for (const word of ["<<'EOF", '<<"EOF', "<<EOF'", '<<EOF"']) {
    test(`parseHeredocWord() rejects ${word}: an unterminated quote`, () => {
      assert.throws(() => parseHeredocWord(word), /unexpected end of statement/);
    });
  }

  // [line, heredoc names]; blanks after `<<` are allowed since dockerfile/1.16.0 (the
  // frontend in Docker 20.10 saw no heredoc in `RUN << EOF`).
  const lines: Array<[string, string[]]> = [
    ["RUN <<EOF", ["EOF"]],
    ["RUN <<-EOF", ["EOF"]],
    // BuildKit's table lists EOF here, but its loop checks nothing when no heredoc is found,
    // and none is: the lexer glues only blanks to `<<`, so the line's words are `<<-`, `EOF`.
    ["RUN <<- EOF", []],
    ["RUN << -EOF", ["-EOF"]],
    ["RUN <<  EOF", ["EOF"]],
    ["RUN <<  EOF  > foo", ["EOF"]],
    ["RUN <<'EOF'", ["EOF"]],
    ["RUN 4<<EOF", ["EOF"]],
    ["RUN <<EOF <<EOF2", ["EOF", "EOF2"]],
    ["RUN '<<EOF'", []],
    [`RUN "<<EOF"`, []],
  ];
  for (const [line, names] of lines) {
    test(`finds the heredocs ${JSON.stringify(names)} in ${line}`, () => {
      const bodies = names.map((name) => `body of ${name}\n${name}\n`).join("");
      const parsed = parseDockerfile(`FROM a\n${line}\n${bodies}`);
      const heredocs = parsed.instructions[1].heredocs;
      assert.deepEqual(heredocs.map((h) => h.name), names);
      assert.deepEqual(heredocs.map((h) => h.content), names.map((n) => `body of ${n}\n`));
      assert.equal(parsed.instructions.length, 2);
    });
  }
});

describe("parse errors in BuildKit's words", () => {
  const cases: Array<[string, string, number]> = [
    // [Dockerfile, reason, line] — instructions/parse_test.go's TestErrorCases and more.
    ["FROM a\nMAINTAINER --boo joe@example.com\n", "unknown flag: --boo", 2],
    ["FROM a\nCOPY --chmodd=755 a b\n", "unknown flag: --chmodd (did you mean chmod?)", 2],
    ["FROM a\nCOPY --form=x a b\n", "unknown flag: --form (did you mean from?)", 2],
    ["FROM a\nRUN --mout=type=cache true\n", "unknown flag: --mout (did you mean mount?)", 2],
    ["FROM a\nFOO bar\n", "unknown instruction: FOO (did you mean FROM?)", 2],
    ["FROM a\nfoo bar\n", "unknown instruction: foo (did you mean from?)", 2],
    ["FROM a\nFROBNICATE bar\n", "unknown instruction: FROBNICATE", 2],
    ["FROM a\nRUNN true\n", "unknown instruction: RUNN (did you mean RUN?)", 2],
    ["FROM a\nrunn true\n", "unknown instruction: runn (did you mean run?)", 2],
    ["FROM a\nCopyy a b\n", "unknown instruction: Copyy (did you mean copy?)", 2],
    [
      "FROM a\nONBUILD ONBUILD RUN touch foobar\n",
      "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
      2,
    ],
    ["FROM a\nonbuild from scratch\n", "FROM isn't allowed as an ONBUILD trigger", 2],
    [
      "FROM a\nCOPY\ta\n",
      "COPY requires at least two arguments, but only one was provided. Destination could not be determined",
      2,
    ],
    // The first error in file order wins: the parser keeps unknown instructions and the
    // instruction checks report them in turn.
    [
      "FROM a\nCOPY onlyone\nBOGUS x\n",
      "COPY requires at least two arguments, but only one was provided. Destination could not be determined",
      2,
    ],
    ["FROM a\nBOGUS x\nCOPY onlyone\n", "unknown instruction: BOGUS", 2],
    ["BOGUS x\nRUN true\n", "unknown instruction: BOGUS", 1],
    ["RUN true\nBOGUS x\n", "no build stage in current context", 1],
  ];
  for (const [source, reason, line] of cases) {
    test(`reports ${JSON.stringify(reason)} on line ${line}`, () => {
      assert.throws(() => parseDockerfile(source), (error: unknown) => {
        assert.ok(error instanceof DockerfileSyntaxError);
        assert.equal(error.reason, reason);
        assert.equal(error.line, line);
        return true;
      });
    });
  }
});

describe("ONBUILD with an unknown trigger keyword", () => {
  // BuildKit's parser keeps an unknown keyword as an ignored node and parseOnBuild refuses
  // only ONBUILD, FROM and MAINTAINER triggers, so the parent parses; the child fails
  // (dockerfile2llb initOnBuildTriggers; see build_test.ts).
  test("parses, keeping the trigger's text and no parsed trigger", () => {
    const parsed = parseDockerfile("FROM a\nONBUILD FOO bar\nonbuild  runn  true\n");
    const [, foo, runn] = parsed.instructions;
    assert.equal(foo.keyword, "onbuild");
    assert.deepEqual(foo.args, ["FOO bar"]);
    assert.equal(foo.keyword === "onbuild" && foo.instruction, undefined);
    assert.deepEqual(runn.args, ["runn  true"]);
    const json = JSON.parse(toParseJson(parsed)).instructions[1];
    assert.equal("instruction" in json, false);
    assert.equal(json.startLine, 2);
    assert.equal(formatDockerfile(parsed), "FROM a\nONBUILD FOO bar\nONBUILD runn  true\n");
  });

  test("still refuses the triggers BuildKit refuses in the parent", () => {
    for (
      const [source, reason] of [
        ["FROM a\nONBUILD from b\n", "FROM isn't allowed as an ONBUILD trigger"],
        ["FROM a\nONBUILD MAINTAINER me\n", "MAINTAINER isn't allowed as an ONBUILD trigger"],
        ["FROM a\nONBUILD onbuild FOO\n", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"],
        ["FROM a\nONBUILD\n", "ONBUILD requires at least one argument"],
      ]
    ) {
      assert.throws(() => parseDockerfile(source), (error: unknown) => {
        assert.ok(error instanceof DockerfileSyntaxError, source);
        assert.equal(error.reason, reason);
        return true;
      });
    }
  });
});

describe("typed flags", () => {
  test("COPY, RUN and HEALTHCHECK flags come read, values as written", () => {
    const parsed = parseDockerfile(
      [
        "FROM a",
        "COPY --from=$S --chown=1:2 --parents --exclude=*.md --exclude=x --link=false a b/",
        "RUN --network=none --mount=type=cache,target=c,sharing=locked,mode=0700 --mount=from=s,source=/x,target=/y true",
        "HEALTHCHECK --interval=1m30s --timeout=1.5s --retries=3 CMD true",
        "",
      ].join("\n"),
    );
    const [, copy, run, health] = parsed.instructions;
    assert.ok(copy.keyword === "copy");
    assert.deepEqual(copy.copyFlags, {
      from: "$S",
      chown: "1:2",
      parents: true,
      exclude: ["*.md", "x"],
      link: false,
    });
    assert.ok(run.keyword === "run");
    assert.equal(run.runFlags.network, "none");
    assert.deepEqual(run.runFlags.mounts.map((m) => [m.type, m.target, m.from, m.readonly]), [
      ["cache", "c", undefined, false],
      ["bind", "/y", "s", true],
    ]);
    assert.equal(run.runFlags.mounts[0].mode, 0o700);
    assert.equal(run.runFlags.mounts[0].sharing, "locked");
    assert.ok(health.keyword === "healthcheck");
    assert.deepEqual(health.healthcheck, {
      interval: 90e9,
      timeout: 1.5e9,
      startPeriod: 0,
      startInterval: 0,
      retries: 3,
    });
  });

  test("a RUN mount of an unknown type or without a target is refused with its line", () => {
    for (
      const [mount, reason] of [
        ["type=nfs,target=/x", 'Invalid --mount=type=nfs,target=/x: unknown type "nfs"'],
        ["type=cache", "Invalid --mount=type=cache: target= is required"],
      ]
    ) {
      assert.throws(() => parseDockerfile(`FROM a\nRUN --mount=${mount} true\n`), (error) => {
        assert.ok(error instanceof DockerfileSyntaxError);
        assert.equal(error.line, 2);
        assert.equal(error.reason, reason);
        return true;
      });
    }
  });

  test("an ONBUILD trigger's bad mount waits for the child build, as in BuildKit", () => {
    const parsed = parseDockerfile("FROM a\nONBUILD RUN --mount=type=nfs,target=/x true\n");
    assert.equal(parsed.instructions[1].keyword, "onbuild");
  });
});
