import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DockerfileSyntaxError } from "./errors.ts";
import type { ImageConfig } from "../image/mod.ts";
import {
  applyMetadata,
  cleanAbsolute,
  expansionEnv,
  goDuration,
  goQuote,
  goQuoteRune,
  initialStageConfig,
  resolveWorkdir,
  runCreatedBy,
  type StageConfig,
} from "./instructions.ts";
import { parseDockerfile } from "./parser.ts";

const PLATFORM = { os: "linux", architecture: "amd64" };

/** Applies the metadata instructions of `text` (after its FROM) to a scratch stage. */
function apply(text: string, args: Record<string, string> = {}, start?: StageConfig) {
  const parsed = parseDockerfile(`FROM scratch\n${text}`);
  let state = start ?? initialStageConfig(null, PLATFORM);
  const createdBy: (string | null)[] = [];
  for (const instruction of parsed.instructions.slice(1)) {
    const result = applyMetadata(state, instruction, args, parsed.escapeToken);
    state = result.state;
    createdBy.push(result.createdBy);
  }
  return { config: state.image.config!, image: state.image, createdBy, state };
}

describe("applyMetadata() writes config and history like Docker BuildKit", () => {
  // Expected strings are what `docker history --no-trunc` showed for the same lines built
  // by Docker 20.10's BuildKit.
  const cases: [string, string, (c: ReturnType<typeof apply>["config"]) => unknown, unknown][] = [
    ['ENV A=1 B="two words"', "ENV A=1 B=two words", (c) => c.Env?.slice(1), [
      "A=1",
      "B=two words",
    ]],
    [
      "ENV LEG legacy value  here",
      "ENV LEG=legacy value  here",
      (c) => c.Env?.at(-1),
      "LEG=legacy value  here",
    ],
    ['LABEL org.a=1 "b c"=d', "LABEL org.a=1 b c=d", (c) => c.Labels, { "org.a": "1", "b c": "d" }],
    [
      "EXPOSE 80 443/udp 8080/tcp",
      "EXPOSE map[443/udp:{} 80/tcp:{} 8080/tcp:{}]",
      (c) => Object.keys(c.ExposedPorts!).sort(),
      ["443/udp", "80/tcp", "8080/tcp"],
    ],
    ['VOLUME /data ["/v2"]', "VOLUME [/data [/v2]]", (c) => Object.keys(c.Volumes!), [
      "/data",
      "[/v2]",
    ]],
    ['VOLUME ["/a", "/b"]', "VOLUME [/a /b]", (c) => Object.keys(c.Volumes!), ["/a", "/b"]],
    ["USER nobody:nogroup", "USER nobody:nogroup", (c) => c.User, "nobody:nogroup"],
    ['SHELL ["/bin/sh", "-ec"]', "SHELL [/bin/sh -ec]", (c) => c.Shell, ["/bin/sh", "-ec"]],
    ["STOPSIGNAL SIGKILL", "STOPSIGNAL SIGKILL", (c) => c.StopSignal, "SIGKILL"],
    [
      "HEALTHCHECK --interval=5s --retries=3 CMD echo ok",
      `HEALTHCHECK &{["CMD-SHELL" "echo ok"] "5s" "0s" "0s" '\\x03'}`,
      (c) => c.Healthcheck,
      { Test: ["CMD-SHELL", "echo ok"], Interval: 5e9, Retries: 3 },
    ],
    [
      "HEALTHCHECK NONE",
      `HEALTHCHECK &{["NONE"] "0s" "0s" "0s" '\\x00'}`,
      (c) => c.Healthcheck,
      { Test: ["NONE"] },
    ],
    [
      'HEALTHCHECK --timeout=90s --start-period=1m30s CMD ["curl", "-f", "x"]',
      `HEALTHCHECK &{["CMD" "curl" "-f" "x"] "0s" "1m30s" "1m30s" '\\x00'}`,
      (c) => c.Healthcheck,
      { Test: ["CMD", "curl", "-f", "x"], Timeout: 90e9, StartPeriod: 90e9 },
    ],
    ['CMD ["a"]', 'CMD ["a"]', (c) => [c.Cmd, c.ArgsEscaped], [["a"], true]],
    ["CMD echo $X hi", 'CMD ["/bin/sh" "-c" "echo $X hi"]', (c) => c.Cmd, [
      "/bin/sh",
      "-c",
      "echo $X hi",
    ]],
    ['ENTRYPOINT ["/bin/echo"]', 'ENTRYPOINT ["/bin/echo"]', (c) => c.Entrypoint, ["/bin/echo"]],
    ["ONBUILD RUN echo hi", null as unknown as string, (c) => c.OnBuild, ["RUN echo hi"]],
    ["ARG X=hello", "ARG X=hello", (c) => c.Env?.length, 1],
    ["ARG Y", "ARG Y", (c) => c.Env?.length, 1],
  ];
  for (const [line, createdBy, pick, expected] of cases) {
    test(`${line} → ${createdBy}`, () => {
      const r = apply(line);
      assert.equal(r.createdBy[0], createdBy);
      assert.deepEqual(pick(r.config), expected);
    });
  }

  test("MAINTAINER sets the author", () => {
    const r = apply("MAINTAINER me");
    assert.equal(r.image.author, "me");
    assert.equal(r.createdBy[0], "MAINTAINER me");
  });

  test("a stage from scratch gets the default PATH and WorkingDir /", () => {
    const r = apply("LABEL a=b");
    assert.deepEqual(r.config.Env, [
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ]);
    assert.equal(r.config.WorkingDir, "/");
  });

  test("a base image without PATH gets it, and keeps its empty WorkingDir", () => {
    const state = initialStageConfig({
      architecture: "amd64",
      os: "linux",
      config: { Env: ["A=1"], OnBuild: ["RUN x"] },
      rootfs: { type: "layers", diff_ids: [] },
    }, PLATFORM);
    assert.deepEqual(
      state.image.config?.Env?.[1],
      `PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    );
    assert.equal(state.image.config?.WorkingDir, undefined);
    assert.equal(state.image.config?.OnBuild, undefined, "triggers are taken off the base");
  });

  test("ENTRYPOINT resets an inherited CMD but keeps one this stage set", () => {
    const base = initialStageConfig({
      architecture: "amd64",
      os: "linux",
      config: { Cmd: ["inherited"] },
      rootfs: { type: "layers", diff_ids: [] },
    }, PLATFORM);
    assert.equal(apply('ENTRYPOINT ["x"]', {}, base).config.Cmd, undefined);
    assert.deepEqual(apply('CMD ["a"]\nENTRYPOINT echo hi', {}, base).config, {
      Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      Cmd: ["a"],
      ArgsEscaped: true,
      Entrypoint: ["/bin/sh", "-c", "echo hi"],
    });
  });

  test("SHELL changes the wrapper of later shell-form CMD", () => {
    const r = apply('SHELL ["/bin/bash", "-xc"]\nCMD run it');
    assert.deepEqual(r.config.Cmd, ["/bin/bash", "-xc", "run it"]);
  });

  test("ENV expands with the values before the instruction, ENV over ARG", () => {
    const r = apply("ENV A=1\nENV A=2 B=$A C=${X}", { X: "from-arg", A: "arg-a" });
    assert.deepEqual(r.config.Env?.slice(1), ["A=2", "B=1", "C=from-arg"]);
    assert.equal(r.createdBy[1], "ENV A=2 B=1 C=from-arg");
  });

  test("ARG history shows the default as written, not the --build-arg value", () => {
    const r = apply("ARG Q=1", { Q: "2" });
    assert.equal(r.createdBy[0], "ARG Q=1");
    assert.equal(r.config.Env?.length, 1, "ARGs never reach the config");
  });

  test("EXPOSE expands ranges and variables", () => {
    const r = apply("EXPOSE ${P}-8002/udp", { P: "8000" });
    assert.deepEqual(Object.keys(r.config.ExposedPorts!).sort(), [
      "8000/udp",
      "8001/udp",
      "8002/udp",
    ]);
  });

  test("bad input is refused with the line: a port, a signal, an unset ${VAR:?}", () => {
    assert.throws(() => apply("LABEL ok=1\nEXPOSE 80/xyz"), (e: unknown) => {
      assert.ok(e instanceof DockerfileSyntaxError);
      assert.equal(e.line, 3);
      assert.match(e.message, /Invalid containerPort: 80\/xyz/);
      return true;
    });
    assert.throws(() => apply("STOPSIGNAL SIGNOPE"), /line 2: Invalid signal: SIGNOPE/);
    assert.throws(() => apply("USER ${U:?user needed}"), /line 2: .*U: user needed/);
  });

  test("RUN history lists the stage's ARGs in declaration order", () => {
    assert.equal(
      runCreatedBy(["/bin/sh", "-c", "echo ${X} > /x"], { X: "hello", Y: "z" }),
      "RUN |2 X=hello Y=z /bin/sh -c echo ${X} > /x # buildkit",
    );
    assert.equal(
      runCreatedBy(["/bin/busybox", "--install"], {}),
      "RUN /bin/busybox --install # buildkit",
    );
  });

  test("RUN history gives each ARG the value RUN sees, an ENV set after it included", () => {
    assert.equal(
      runCreatedBy(["true"], { E: "arg", X: "x" }, { E: "again", X: "x", PATH: "/bin" }),
      "RUN |2 E=again X=x true # buildkit",
    );
  });
});

describe("Go formatting helpers", () => {
  test("goDuration() prints like time.Duration.String", () => {
    assert.equal(goDuration(0), "0s");
    assert.equal(goDuration(5e9), "5s");
    assert.equal(goDuration(90e9), "1m30s");
    assert.equal(goDuration(3600e9), "1h0m0s");
    assert.equal(goDuration(1.5e9), "1.5s");
    assert.equal(goDuration(500e6), "500ms");
  });

  test("goQuote() and goQuoteRune() escape like strconv", () => {
    assert.equal(goQuote('a "b"\n\\'), '"a \\"b\\"\\n\\\\"');
    assert.equal(goQuoteRune(3), "'\\x03'");
    assert.equal(goQuoteRune(10), "'\\n'");
    assert.equal(goQuoteRune(65), "'A'");
  });

  test("resolveWorkdir() joins relative paths onto the current one", () => {
    assert.equal(resolveWorkdir("/app", "sub"), "/app/sub");
    assert.equal(resolveWorkdir(undefined, "rel"), "/rel");
    assert.equal(resolveWorkdir("/a/b", "../c/./d/"), "/a/c/d");
    assert.equal(resolveWorkdir("/a", "/"), "/");
  });

  test("resolveWorkdir() keeps an absolute path as written, as BuildKit's config does", () => {
    assert.equal(resolveWorkdir("/a", "/abs/./x/.."), "/abs/./x/..");
    assert.equal(cleanAbsolute("/abs/./x/.."), "/abs");
  });
});

describe("expansionEnv()", () => {
  const image = { config: { Env: ["E=env", "PATH=/bin"] } } as unknown as ImageConfig;
  test("lets ENV override an ARG of the same name", () => {
    assert.deepEqual(expansionEnv(image, { E: "arg", A: "a" }), { E: "env", A: "a", PATH: "/bin" });
  });
  test("lets an ARG declared after the ENV win, if it has a value", () => {
    assert.equal(expansionEnv(image, { E: "arg" }, ["E"]).E, "arg");
    assert.equal(expansionEnv(image, {}, ["E"]).E, "env");
  });
});
