import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { ConfigError } from "./errors.ts";
import {
  historyOfLayers,
  type ImageConfig,
  layerHistory,
  parseImageConfig,
  serializeImageConfig,
} from "./image_config.ts";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const sha = (b: Uint8Array | string): `sha256:${string}` =>
  `sha256:${createHash("sha256").update(b).digest("hex")}`;
const D1 = sha("layer one");
const D2 = sha("layer two");

// Shaped like what `docker build` writes, including Go's nulls for unset slices.
const DOCKER_CONFIG = JSON.stringify({
  architecture: "amd64",
  config: {
    Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    Cmd: ["sh"],
    Entrypoint: null,
    OnBuild: null,
    Labels: null,
    WorkingDir: "/app",
    ExposedPorts: { "80/tcp": {}, "53/udp": {} },
    Volumes: { "/data": {} },
    Healthcheck: { Test: ["CMD-SHELL", "true"], Interval: 30000000000, Retries: 3 },
    Shell: ["/bin/sh", "-c"],
    ArgsEscaped: true,
    Hostname: "",
  },
  created: "2024-01-02T03:04:05.123456789Z",
  history: [
    { created: "2024-01-02T03:04:05Z", created_by: "/bin/sh -c #(nop) ADD file:abc in / " },
    { created: "2024-01-02T03:04:05+02:00", created_by: 'CMD ["sh"]', empty_layer: true },
    { created_by: "RUN echo hi > /x", comment: "buildkit.dockerfile.v0" },
  ],
  os: "linux",
  rootfs: { type: "layers", diff_ids: [D1, D2] },
});

function rejects(
  body: string | Record<string, unknown>,
  field: string,
  message: RegExp,
): Promise<void> {
  const bytes = enc(typeof body === "string" ? body : JSON.stringify(body));
  return assert.rejects(parseImageConfig(bytes), (err) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.ok(err instanceof SyntaxError);
    assert.equal(err.field, field);
    if (field !== "") assert.ok(err.message.includes(`"${field}"`), err.message);
    assert.match(err.message, message);
    return true;
  });
}

test("parseImageConfig() reads Docker's image JSON and its digest is the image ID", async () => {
  const bytes = enc(DOCKER_CONFIG);
  const parsed = await parseImageConfig(bytes);
  assert.equal(parsed.digest, sha(bytes));
  assert.equal(parsed.bytes, bytes);
  assert.deepEqual(parsed.config.rootfs.diff_ids, [D1, D2]);
  assert.deepEqual(parsed.config.config?.Cmd, ["sh"]);
  assert.equal(parsed.config.config?.Healthcheck?.Retries, 3);
  assert.equal(parsed.config.history?.[1].empty_layer, true);
});

test("parseImageConfig() drops Docker's nulls for unset fields", async () => {
  const { config } = await parseImageConfig(enc(DOCKER_CONFIG));
  assert.ok(!("Entrypoint" in config.config!));
  assert.ok(!("OnBuild" in config.config!));
  assert.ok(!("Labels" in config.config!));
});

test("an image without layers may omit diff_ids, as Docker writes it", async () => {
  const body = `{"architecture":"arm64","os":"linux","rootfs":{"type":"layers"}}`;
  const { config } = await parseImageConfig(enc(body));
  assert.deepEqual(config.rootfs.diff_ids, []);
});

test("parseImageConfig() names the field that is missing or malformed", async (t) => {
  const base = JSON.parse(DOCKER_CONFIG);
  const withConfig = (c: Record<string, unknown>) => ({
    ...base,
    config: { ...base.config, ...c },
  });
  const cases: [string, string | Record<string, unknown>, string, RegExp][] = [
    ["not JSON", "architecture: amd64", "", /image config is not JSON/],
    ["no architecture", { ...base, architecture: undefined }, "architecture", /must be a string/],
    ["no os", { ...base, os: 7 }, "os", /must be a string, got number 7/],
    ["no rootfs", { ...base, rootfs: undefined }, "rootfs", /must be an object/],
    [
      "wrong rootfs type",
      { ...base, rootfs: { type: "layers+base", diff_ids: [] } },
      "rootfs.type",
      /must be "layers"/,
    ],
    [
      "bad diff_id",
      { ...base, rootfs: { type: "layers", diff_ids: [D1, "sha256:xyz"] } },
      "rootfs.diff_ids[1]",
      /Invalid digest/,
    ],
    ["bad created", { ...base, created: "yesterday" }, "created", /RFC 3339/],
    ["Env not strings", withConfig({ Env: ["A=1", 2] }), "config.Env[1]", /must be a string/],
    ["Cmd a string", withConfig({ Cmd: "sh" }), "config.Cmd", /array of strings/],
    [
      "bad port",
      withConfig({ ExposedPorts: { "http": {} } }),
      `config.ExposedPorts["http"]`,
      /port/,
    ],
    [
      "label not a string",
      withConfig({ Labels: { a: 1 } }),
      `config.Labels["a"]`,
      /must be a string/,
    ],
    ["ArgsEscaped a string", withConfig({ ArgsEscaped: "yes" }), "config.ArgsEscaped", /boolean/],
    [
      "negative interval",
      withConfig({ Healthcheck: { Interval: -1 } }),
      "config.Healthcheck.Interval",
      /nanoseconds/,
    ],
    ["history not array", { ...base, history: {} }, "history", /must be an array/],
    [
      "empty_layer a string",
      { ...base, history: [{}, { empty_layer: "true" }] },
      "history[1].empty_layer",
      /boolean/,
    ],
  ];
  for (const [name, body, field, message] of cases) {
    await t.test(name, () => rejects(body, field, message));
  }
});

test("serializeImageConfig() writes canonical compact JSON whatever the key order", async () => {
  const a: ImageConfig = {
    rootfs: { diff_ids: [D1], type: "layers" },
    os: "linux",
    architecture: "arm64",
    variant: "v8",
    config: { Labels: { z: "1", a: "2" }, Cmd: ["sh", "-c", "a && b"], User: "1000" },
    history: [{ empty_layer: false, created_by: "COPY . /" }],
  };
  const b: ImageConfig = {
    architecture: "arm64",
    os: "linux",
    variant: "v8",
    config: { User: "1000", Cmd: ["sh", "-c", "a && b"], Labels: { a: "2", z: "1" } },
    rootfs: { type: "layers", diff_ids: [D1] },
    history: [{ created_by: "COPY . /", empty_layer: false }],
  };
  const pa = await serializeImageConfig(a);
  const pb = await serializeImageConfig(b);
  const text = new TextDecoder().decode(pa.bytes);
  assert.equal(
    text,
    `{"architecture":"arm64","os":"linux","variant":"v8",` +
      `"config":{"User":"1000","Cmd":["sh","-c","a \\u0026\\u0026 b"],"Labels":{"a":"2","z":"1"}},` +
      `"rootfs":{"type":"layers","diff_ids":["${D1}"]},` +
      `"history":[{"created_by":"COPY . /","empty_layer":false}]}`,
  );
  assert.equal(pa.digest, pb.digest);
  assert.equal(pa.digest, sha(text));
  assert.equal(JSON.parse(text).config.Cmd[2], "a && b");
});

test("serializeImageConfig() refuses to write an invalid config", async () => {
  const bad = { os: "linux", rootfs: { type: "layers", diff_ids: [] } } as unknown as ImageConfig;
  await assert.rejects(
    serializeImageConfig(bad),
    (err) => err instanceof ConfigError && err.field === "architecture",
  );
});

// The image-spec's schema/config_test.go: an Env entry must be NAME=value.
test("parseImageConfig() refuses an Env entry without = or without a name", async () => {
  const base = JSON.parse(DOCKER_CONFIG);
  for (const [i, entry] of [[1, "NOEQUALS"], [1, "=value"]] as const) {
    const body = { ...base, config: { ...base.config, Env: ["A=1", entry] } };
    await assert.rejects(parseImageConfig(enc(JSON.stringify(body))), (err) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.field, `config.Env[${i}]`);
      assert.ok(err.message.includes(JSON.stringify(entry)), err.message);
      return true;
    });
  }
  const fine = { ...base, config: { ...base.config, Env: ["A=", "B==x", "C=a b"] } };
  assert.deepEqual(
    (await parseImageConfig(enc(JSON.stringify(fine)))).config.config?.Env,
    ["A=", "B==x", "C=a b"],
  );
});

test("parseImageConfig() accepts diff_ids in sha512, as the image-spec does", async () => {
  const base = JSON.parse(DOCKER_CONFIG);
  const body = { ...base, rootfs: { type: "layers", diff_ids: [`sha512:${"c".repeat(128)}`] } };
  const parsed = await parseImageConfig(enc(JSON.stringify(body)));
  assert.deepEqual(parsed.config.rootfs.diff_ids, [`sha512:${"c".repeat(128)}`]);
});

test("layerHistory pairs steps with layers as Docker counts them; historyOfLayers per layer", () => {
  const config: ImageConfig = {
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: [`sha256:${"a".repeat(64)}`, `sha256:${"b".repeat(64)}`] },
    history: [
      { created_by: "ADD rootfs" },
      { created_by: "ENV A=1", empty_layer: true },
      { created_by: "RUN make" },
      { created_by: "RUN extra (no layer left for it)" },
    ],
  };
  assert.deepEqual(layerHistory(config).map((s) => s.layer), [0, null, 1, 2]);
  assert.deepEqual(historyOfLayers(config).map((h) => h?.created_by), ["ADD rootfs", "RUN make"]);
  assert.deepEqual(historyOfLayers({ ...config, history: undefined }), [undefined, undefined]);
});
