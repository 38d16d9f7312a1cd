import { test } from "node:test";
import assert from "node:assert/strict";
import { dockerInspectComment, dockerInspectConfig } from "./docker_inspect.ts";
import type { ImageConfig } from "./image_config.ts";

// What Docker 20.10 prints for a BuildKit image with ENV PATH and WORKDIR / set.
test("dockerInspectConfig() shows every field Docker always writes, null where unset", () => {
  const view = dockerInspectConfig({ Env: ["PATH=/bin"], WorkingDir: "/" });
  assert.deepEqual(Object.entries(view), [
    ["Hostname", ""],
    ["Domainname", ""],
    ["User", ""],
    ["AttachStdin", false],
    ["AttachStdout", false],
    ["AttachStderr", false],
    ["Tty", false],
    ["OpenStdin", false],
    ["StdinOnce", false],
    ["Env", ["PATH=/bin"]],
    ["Cmd", null],
    ["Image", ""],
    ["Volumes", null],
    ["WorkingDir", "/"],
    ["Entrypoint", null],
    ["OnBuild", null],
    ["Labels", null],
  ]);
});

test("dockerInspectConfig() adds the omitempty fields only when set, in Docker's order", () => {
  const view = dockerInspectConfig({
    Shell: ["/bin/sh", "-ec"],
    StopSignal: "SIGKILL",
    ArgsEscaped: true,
    Healthcheck: { Test: ["NONE"] },
    ExposedPorts: { "80/tcp": {} },
    Cmd: ["sh"],
  });
  assert.deepEqual(
    Object.keys(view).filter((k) =>
      ["ExposedPorts", "Healthcheck", "ArgsEscaped", "StopSignal", "Shell", "Cmd"].includes(k)
    ),
    ["ExposedPorts", "Cmd", "Healthcheck", "ArgsEscaped", "StopSignal", "Shell"],
  );
  assert.equal("Shell" in dockerInspectConfig({ Shell: [] }), false);
});

test("dockerInspectComment() takes the config's comment, else the last history entry's", () => {
  const image = (extra: Record<string, unknown>) =>
    ({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: [] },
      ...extra,
    }) as unknown as ImageConfig;
  const history = [{ comment: "first" }, { created_by: "x", comment: "buildkit.dockerfile.v0" }];
  assert.equal(dockerInspectComment(image({ history })), "buildkit.dockerfile.v0");
  assert.equal(dockerInspectComment(image({ history, comment: "own" })), "own");
  assert.equal(dockerInspectComment(image({ history: [{ created_by: "x" }] })), "");
  assert.equal(dockerInspectComment(image({})), "");
});
