import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { formatDockerfile } from "./format.ts";
import { type Instruction, type ParsedDockerfile, parseDockerfile } from "./parser.ts";

/** mulberry32: a small seeded PRNG, so a failing case can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generator(seed: number) {
  const random = prng(seed);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  const chance = (p: number) => random() < p;
  const escape = chance(0.2) ? "`" : "\\";
  const words = [
    "app",
    "/usr/local/bin",
    "$HOME",
    "${NAME:-x}",
    '"two words"',
    "'single $x'",
    `a${escape} b`,
    "a=b",
    "ünïcödé",
    "x#y",
    "[x",
    "--dashed",
    "*.txt",
    "${V//a/b}",
    "100%",
    '""',
  ];
  const phrase = (n: number) => Array.from({ length: 1 + int(n) }, () => pick(words)).join(" ");
  const keyword = (k: string) =>
    chance(0.3) ? [...k].map((c) => (chance(0.5) ? c.toLowerCase() : c)).join("") : k;
  const json = (n: number) =>
    JSON.stringify(Array.from({ length: 1 + int(n) }, () => pick(words)))
      .replace(/,/g, chance(0.5) ? ", " : ",");
  const heredoc = () => {
    const name = pick(["EOF", "END", "SCRIPT"]);
    const form = pick([`<<${name}`, `<<-${name}`, `<<"${name}"`, `<<'${name}'`]);
    const body = Array.from({ length: int(3) }, () => (chance(0.3) ? "\t" : "") + phrase(3));
    return { marker: form, body: [...body, (form.includes("-") ? "\t" : "") + name] };
  };

  /** One instruction line plus any lines after it (heredoc bodies). */
  function instruction(): [string, string[]] {
    switch (int(16)) {
      case 0: {
        const doc = chance(0.4) ? heredoc() : undefined;
        const flags = pick([
          "",
          "",
          "--mount=type=cache,target=/c --network=none ",
          '--mount="type=secret,id=a b" ',
        ]);
        if (doc) return [`${keyword("RUN")} ${flags}${doc.marker} ${phrase(2)}`, doc.body];
        return [`${keyword("RUN")} ${flags}${chance(0.3) ? json(3) : phrase(6)}`, []];
      }
      case 1:
        return [`${keyword(pick(["CMD", "ENTRYPOINT"]))} ${chance(0.5) ? json(3) : phrase(4)}`, []];
      case 2: {
        const pairs = Array.from(
          { length: 1 + int(3) },
          () => `${pick(["A", "B_2", "lower"])}=${pick(words)}`,
        );
        return [`${keyword(pick(["ENV", "LABEL"]))} ${pairs.join(" ")}`, []];
      }
      case 3:
        return [`${keyword("ENV")} LEGACY ${phrase(3)}`, []];
      case 4:
        return [`${keyword("ARG")} ${pick(["V", "NAME=dflt", 'Q="q v"', "E="])}`, []];
      case 5:
        return [`${keyword("EXPOSE")} ${pick(["80", "80/tcp 443", "${PORT}"])}`, []];
      case 6:
        return [`${keyword("VOLUME")} ${chance(0.5) ? json(2) : "/data /logs"}`, []];
      case 7:
        return [`${keyword(pick(["USER", "WORKDIR", "STOPSIGNAL"]))} ${pick(words)}`, []];
      case 8: {
        const doc = chance(0.3) ? heredoc() : undefined;
        const flags = pick(["", "--chown=1:1 ", "--link ", "--chmod=644 --exclude=*.md "]);
        const cmd = keyword(pick(["COPY", "ADD"]));
        if (doc) return [`${cmd} ${flags}${doc.marker} /dst/`, doc.body];
        return [`${cmd} ${flags}${chance(0.3) ? '["a b", "/c"]' : "src/ other /dst/"}`, []];
      }
      case 9:
        return [`${keyword("ONBUILD")} ${pick(["RUN make", "COPY . /app", "ENV A=1"])}`, []];
      case 10:
        return [`${keyword("HEALTHCHECK")} NONE`, []];
      case 11:
        return [
          `${keyword("HEALTHCHECK")} ${chance(0.5) ? "--interval=5s --retries=2 " : ""}CMD ${
            chance(0.5) ? json(2) : phrase(3)
          }`,
          [],
        ];
      case 12:
        return [`${keyword("SHELL")} ["/bin/sh", "-c"]`, []];
      case 13:
        return [`${keyword("MAINTAINER")} ${phrase(3)}`, []];
      case 14:
        return [`${keyword("RUN")} --network=host -- ${phrase(2)}`, []];
      default:
        return [`# ${phrase(3)}`, []];
    }
  }

  /** Splits a line with continuations, sometimes with comments or trailing blanks. */
  function continued(line: string): string[] {
    if (line.startsWith("#") || !chance(0.3)) return [line];
    const out: string[] = [];
    let rest = line;
    while (rest.length > 12 && chance(0.6)) {
      const at = rest.indexOf(" ", 4 + int(rest.length - 4));
      if (at < 0) break;
      out.push(rest.slice(0, at) + " " + escape + (chance(0.2) ? "  " : ""));
      if (chance(0.2)) out.push("  # comment inside");
      rest = "    " + rest.slice(at + 1);
    }
    out.push(rest);
    return out;
  }

  return (): string => {
    const lines: string[] = [];
    if (escape === "`" || chance(0.3)) lines.push(`# escape=${escape}`);
    if (chance(0.3)) lines.push("# syntax=docker/dockerfile:1");
    if (chance(0.3)) lines.push(`${keyword("ARG")} BASE=alpine`);
    const stages = 1 + int(3);
    for (let s = 0; s < stages; s++) {
      const platform = chance(0.3) ? "--platform=$BUILDPLATFORM " : "";
      lines.push(
        `${keyword("FROM")} ${platform}${pick(["alpine", "${BASE}", "scratch"])}` +
          (chance(0.5) ? ` ${keyword("AS")} stage${s}` : ""),
      );
      for (let n = int(8); n > 0; n--) {
        const [line, after] = instruction();
        lines.push(...continued(line), ...after);
        if (chance(0.1)) lines.push("");
      }
    }
    return lines.join(chance(0.1) ? "\r\n" : "\n") + (chance(0.8) ? "\n" : "");
  };
}

/** What must survive formatting: everything but line numbers. */
function essence(parsed: ParsedDockerfile): unknown {
  const strip = (instruction: Instruction): unknown => {
    const { startLine: _s, endLine: _e, ...rest } = instruction;
    return instruction.keyword === "onbuild" && instruction.instruction
      ? { ...rest, instruction: strip(instruction.instruction) }
      : rest;
  };
  return {
    directives: parsed.directives.map(({ name, value }) => ({ name, value })),
    escapeToken: parsed.escapeToken,
    instructions: parsed.instructions.map(strip),
    trailingComments: parsed.trailingComments,
  };
}

describe("formatDockerfile()", () => {
  test("prints the canonical layout", () => {
    const source = [
      "# escape=\\",
      "from --platform=linux/amd64 alpine as base",
      "  # install",
      "run   apk add \\",
      "      curl",
      'copy  --chown="1:1"   a   b',
      "RUN --mount=type=secret,id=x\\ y cat",
      'cmd [ "a" ,"b" ]',
      "FROM scratch",
      "COPY <<EOF /x",
      "body",
      "EOF",
    ].join("\n");
    assert.equal(
      formatDockerfile(parseDockerfile(source)),
      [
        "# escape=\\",
        "",
        "FROM --platform=linux/amd64 alpine as base",
        "# install",
        "RUN apk add       curl",
        "COPY --chown=1:1 a b",
        'RUN --"mount=type=secret,id=x y" cat',
        'CMD ["a", "b"]',
        "",
        "FROM scratch",
        "COPY <<EOF /x",
        "body",
        "EOF",
        "",
      ].join("\n"),
    );
  });

  test("keeps a leading comment that looks like a directive from becoming one", () => {
    const parsed = parseDockerfile("\n# escape=`\nFROM a\n");
    const again = parseDockerfile(formatDockerfile(parsed));
    assert.deepEqual(again.directives, []);
    assert.deepEqual(again.instructions[0].comments, ["escape=`"]);
  });

  test("prints random accepted Dockerfiles to text that parses to the same instructions", () => {
    let accepted = 0;
    for (let seed = 1; seed <= 400; seed++) {
      const source = generator(seed)();
      let parsed: ParsedDockerfile;
      try {
        parsed = parseDockerfile(source);
      } catch {
        continue;
      }
      accepted++;
      const formatted = formatDockerfile(parsed);
      let reparsed: ParsedDockerfile;
      try {
        reparsed = parseDockerfile(formatted);
      } catch (error) {
        assert.fail(`seed ${seed}: formatted text does not parse: ${error}\n${formatted}`);
      }
      assert.deepEqual(
        essence(reparsed),
        essence(parsed),
        `seed ${seed}\n--- source\n${source}\n--- formatted\n${formatted}`,
      );
      assert.equal(formatDockerfile(reparsed), formatted, `seed ${seed}: not idempotent`);
    }
    // The generator is meant to produce mostly valid files; if it drifts, the test is weak.
    assert.ok(accepted >= 300, `only ${accepted} of 400 generated files were accepted`);
  });
});
