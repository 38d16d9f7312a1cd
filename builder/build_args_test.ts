import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseDockerfile } from "./parser.ts";
import { platformArgs, scopeBuildArgs } from "./build_args.ts";
import { DockerfileSyntaxError } from "./errors.ts";

function scope(text: string, options: Parameters<typeof scopeBuildArgs>[1] = {}) {
  return scopeBuildArgs(parseDockerfile(text), options);
}

describe("scopeBuildArgs()", () => {
  test("lets meta args serve FROM lines but not the stage unless redeclared", () => {
    const scoped = scope(
      "ARG IMG=alpine TAG=3.19\nFROM ${IMG}:${TAG}\nRUN echo\nARG TAG\nRUN echo $TAG\n",
    );
    const [stage] = scoped.stages;
    assert.equal(stage.baseName, "alpine:3.19");
    assert.deepEqual(stage.steps[0].args, {});
    assert.deepEqual(stage.steps[2].args, { TAG: "3.19" });
  });

  test("lets --build-arg override meta and stage defaults", () => {
    const scoped = scope("ARG V=1\nFROM a:$V\nARG V\nARG W=2\nRUN x\n", {
      buildArgs: { V: "9", W: "8" },
    });
    assert.equal(scoped.stages[0].baseName, "a:9");
    assert.deepEqual(scoped.stages[0].steps[2].args, { V: "9", W: "8" });
  });

  test("gives a stage default precedence over the meta value", () => {
    const scoped = scope("ARG V=meta\nFROM a\nARG V=stage\nRUN x\n");
    assert.deepEqual(scoped.stages[0].steps[1].args, { V: "stage" });
  });

  test("leaves a declared ARG with no default and no value unset", () => {
    const scoped = scope("FROM a\nARG NOPE\nRUN x\n");
    assert.deepEqual(scoped.stages[0].steps[1].args, {});
  });

  test("starts a stage from an image with an empty scope", () => {
    const scoped = scope("FROM a\nARG X=1\nFROM b\nRUN x\n");
    assert.deepEqual(scoped.stages[1].steps[0].args, {});
  });

  test("starts a stage built FROM another stage with that stage's ARG values", () => {
    const scoped = scope(
      [
        "ARG NAME=meta",
        "FROM a AS parent",
        "ARG NAME=parent",
        "ARG KEEP=kept",
        "ARG TARGETARCH",
        "FROM parent AS child",
        "RUN first",
        'ARG NAME="$NAME-dev"',
        "ARG KEEP",
        "RUN second",
        "FROM parent",
        "ARG NAME",
        "RUN third",
        "FROM child",
        "RUN fourth",
      ].join("\n") + "\n",
      { targetPlatform: "linux/arm64" },
    );
    const parent = { NAME: "parent", KEEP: "kept", TARGETARCH: "arm64" };
    assert.deepEqual(scoped.stages[1].steps[0].args, parent);
    // A default sees the parent's value; a bare ARG keeps it.
    assert.deepEqual(scoped.stages[1].steps[3].args, { ...parent, NAME: "parent-dev" });
    // A bare ARG of a name the meta scope has takes the meta value, as BuildKit does.
    assert.deepEqual(scoped.stages[2].steps[1].args, { ...parent, NAME: "meta" });
    // Inheritance goes on down a chain of stages.
    assert.deepEqual(scoped.stages[3].steps[0].args, { ...parent, NAME: "parent-dev" });
  });

  test("matches proxy names in any case; the lower-case name wins a tie; empty sets none", () => {
    const scoped = scope("FROM a\nRUN x\n", {
      buildArgs: { Https_Proxy: "h", FTP_PROXY: "upper", ftp_proxy: "lower", ALL_PROXY: "" },
    });
    assert.deepEqual(scoped.proxyArgs, {
      HTTPS_PROXY: "h",
      https_proxy: "h",
      FTP_PROXY: "lower",
      ftp_proxy: "lower",
    });
    assert.deepEqual(scoped.unusedBuildArgs, []);
  });

  test("expands ARG defaults with the ARGs declared before them", () => {
    const scoped = scope("FROM a\nARG A=x\nARG B=${A}-y C=$B\nRUN x\n");
    assert.deepEqual(scoped.stages[0].steps[2].args, { A: "x", B: "x-y", C: "x-y" });
  });

  test("puts the automatic platform args in the global scope and in stages on request", () => {
    const scoped = scope(
      "FROM --platform=$BUILDPLATFORM a AS b\nARG TARGETARCH\nARG TARGETVARIANT\nRUN x\n",
      { targetPlatform: "linux/arm/v7", buildPlatform: "linux/amd64" },
    );
    const [stage] = scoped.stages;
    assert.equal(stage.platform, "linux/amd64");
    assert.equal(stage.name, "b");
    assert.deepEqual(stage.steps[2].args, { TARGETARCH: "arm", TARGETVARIANT: "v7" });
    assert.equal(scoped.metaArgs.TARGETPLATFORM, "linux/arm/v7");
  });

  test("passes proxy args through without a declaration and does not report them", () => {
    const scoped = scope("FROM a\nRUN x\n", {
      buildArgs: { HTTP_PROXY: "http://p:3128", no_proxy: "localhost", UNUSED: "1" },
    });
    // Both spellings, whichever was given (BuildKit's ProxyEnv).
    assert.deepEqual(scoped.proxyArgs, {
      HTTP_PROXY: "http://p:3128",
      http_proxy: "http://p:3128",
      NO_PROXY: "localhost",
      no_proxy: "localhost",
    });
    assert.deepEqual(scoped.unusedBuildArgs, ["UNUSED"]);
    assert.deepEqual(scoped.warnings, [
      "[Warning] One or more build-args [UNUSED] were not consumed",
    ]);
  });

  test("counts a build arg as used when any ARG declares it, and ignores BUILDKIT_ args", () => {
    const scoped = scope("ARG A\nFROM a\nARG B\n", {
      buildArgs: { A: "1", B: "2", BUILDKIT_INLINE_CACHE: "1" },
    });
    assert.deepEqual(scoped.unusedBuildArgs, []);
    assert.deepEqual(scoped.warnings, []);
  });

  test("rejects a FROM that expands to nothing, naming the line", () => {
    assert.throws(() => scope("ARG IMG\nFROM $IMG\n"), (error: unknown) => {
      assert.ok(error instanceof DockerfileSyntaxError);
      assert.equal(error.line, 2);
      assert.match(error.message, /base name \(\$IMG\) should not be blank/);
      return true;
    });
  });

  test("reports a ${var:?msg} failure in an ARG default with its line", () => {
    assert.throws(() => scope("FROM a\n\nARG X=${MISSING:?required}\n"), (error: unknown) => {
      assert.ok(error instanceof DockerfileSyntaxError);
      assert.equal(error.line, 3);
      assert.match(error.message, /MISSING: required/);
      return true;
    });
  });
});

describe("platformArgs()", () => {
  test("splits os/arch/variant for target and build platforms", () => {
    assert.deepEqual(platformArgs("linux/arm64", "linux/amd64"), {
      TARGETPLATFORM: "linux/arm64",
      TARGETOS: "linux",
      TARGETARCH: "arm64",
      TARGETVARIANT: "",
      BUILDPLATFORM: "linux/amd64",
      BUILDOS: "linux",
      BUILDARCH: "amd64",
      BUILDVARIANT: "",
    });
  });

  test("rejects a platform that is not os/arch[/variant]", () => {
    assert.throws(() => platformArgs("amd64", "linux/amd64"), RangeError);
  });
});
