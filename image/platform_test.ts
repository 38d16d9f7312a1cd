import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import type { Descriptor, Platform } from "./descriptor.ts";
import { InvalidPlatformError } from "./errors.ts";
import type { ImageIndex } from "./manifest.ts";
import { MediaType } from "./media_types.ts";
import {
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  selectManifest,
} from "./platform.ts";

test("normalizePlatform() applies containerd's aliases and defaults", async (t) => {
  const cases: [Platform, Platform][] = [
    [{ os: "linux", architecture: "aarch64" }, { os: "linux", architecture: "arm64" }],
    [{ os: "linux", architecture: "arm64", variant: "v8" }, { os: "linux", architecture: "arm64" }],
    [{ os: "linux", architecture: "arm64", variant: "8" }, { os: "linux", architecture: "arm64" }],
    [{ os: "linux", architecture: "arm64", variant: "v8.2" }, {
      os: "linux",
      architecture: "arm64",
      variant: "v8.2",
    }],
    [{ os: "linux", architecture: "arm" }, { os: "linux", architecture: "arm", variant: "v7" }],
    [{ os: "linux", architecture: "arm", variant: "6" }, {
      os: "linux",
      architecture: "arm",
      variant: "v6",
    }],
    [{ os: "linux", architecture: "armhf" }, { os: "linux", architecture: "arm", variant: "v7" }],
    [{ os: "linux", architecture: "armel" }, { os: "linux", architecture: "arm", variant: "v6" }],
    [{ os: "Linux", architecture: "x86_64" }, { os: "linux", architecture: "amd64" }],
    [{ os: "linux", architecture: "x86-64", variant: "v1" }, {
      os: "linux",
      architecture: "amd64",
    }],
    [{ os: "linux", architecture: "amd64", variant: "v3" }, {
      os: "linux",
      architecture: "amd64",
      variant: "v3",
    }],
    [{ os: "linux", architecture: "i386" }, { os: "linux", architecture: "386" }],
    [{ os: "MacOS", architecture: "ARM64" }, { os: "darwin", architecture: "arm64" }],
    [
      { os: "windows", architecture: "amd64", "os.features": ["win32k", "a", "win32k"] },
      { os: "windows", architecture: "amd64", "os.features": ["a", "win32k"] },
    ],
  ];
  for (const [input, expected] of cases) {
    await t.test(JSON.stringify(input), () => assert.deepEqual(normalizePlatform(input), expected));
  }
});

test("parsePlatform() reads os/arch/variant specifiers and normalizes them", async (t) => {
  const cases: [string, Platform][] = [
    ["linux/arm64/v8", { os: "linux", architecture: "arm64" }],
    ["linux/arm64", { os: "linux", architecture: "arm64" }],
    ["linux/amd64", { os: "linux", architecture: "amd64" }],
    ["linux/arm/v6", { os: "linux", architecture: "arm", variant: "v6" }],
    ["linux/arm", { os: "linux", architecture: "arm", variant: "v7" }],
    ["linux/aarch64", { os: "linux", architecture: "arm64" }],
    ["Linux/x86_64", { os: "linux", architecture: "amd64" }],
    ["linux/armhf", { os: "linux", architecture: "arm", variant: "v7" }],
    [
      "windows(10.0.17763+win32k)/amd64",
      {
        os: "windows",
        architecture: "amd64",
        "os.version": "10.0.17763",
        "os.features": ["win32k"],
      },
    ],
  ];
  for (const [input, expected] of cases) {
    await t.test(input, () => assert.deepEqual(parsePlatform(input), expected));
  }
  await t.test("an OS alone takes the host's architecture", () => {
    const host = hostPlatform();
    assert.deepEqual(parsePlatform("linux"), { ...host, os: "linux" });
  });
  await t.test("an architecture alone takes the host's OS", () => {
    assert.deepEqual(parsePlatform("arm64"), { os: hostPlatform().os, architecture: "arm64" });
  });
});

test("parsePlatform() rejects malformed specifiers, quoting them", async (t) => {
  for (
    const input of ["", "linux/*", "linux/arm/v7/extra", "linux/a b", "plan10", "lin ux/amd64"]
  ) {
    await t.test(JSON.stringify(input), () => {
      assert.throws(() => parsePlatform(input), (err) => {
        assert.ok(err instanceof InvalidPlatformError);
        assert.ok(err.message.includes(`"${input}"`), err.message);
        return true;
      });
    });
  }
});

test("formatPlatform() writes os/arch[/variant]", () => {
  assert.equal(
    formatPlatform({ os: "linux", architecture: "arm64", variant: "v8" }),
    "linux/arm64/v8",
  );
  assert.equal(formatPlatform({ os: "linux", architecture: "amd64" }), "linux/amd64");
  assert.equal(formatPlatform({ os: "", architecture: "amd64" }), "unknown");
  assert.equal(formatPlatform(parsePlatform("linux/arm/v5")), "linux/arm/v5");
});

test("hostPlatform() maps node:process names to Go's", () => {
  const host = hostPlatform();
  const arch: Record<string, string> = { x64: "amd64", arm64: "arm64", ia32: "386", arm: "arm" };
  const os: Record<string, string> = { linux: "linux", darwin: "darwin", win32: "windows" };
  assert.equal(host.architecture, arch[process.arch] ?? host.architecture);
  assert.equal(host.os, os[process.platform] ?? host.os);
  assert.deepEqual(normalizePlatform(host), host);
});

let counter = 0;
function entry(spec: string, extra: Partial<Platform> = {}): Descriptor {
  const [os, architecture, variant] = spec.split("/");
  counter++;
  return {
    mediaType: MediaType.OCI_MANIFEST,
    digest: `sha256:${counter.toString(16).padStart(64, "0")}`,
    size: 100,
    platform: { os, architecture, ...(variant ? { variant } : {}), ...extra },
  };
}
function index(...manifests: Descriptor[]): ImageIndex {
  return { schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests };
}

test("selectManifest() prefers the exact match over compatible ones", () => {
  const v5 = entry("linux/arm/v5");
  const v6 = entry("linux/arm/v6");
  const v7 = entry("linux/arm/v7");
  assert.equal(
    selectManifest(index(v5, v6, v7), { os: "linux", architecture: "arm", variant: "v7" }),
    v7,
  );
});

test("selectManifest() falls back from arm/v7 to v6, then v5, in that order", () => {
  const v5 = entry("linux/arm/v5");
  const v6 = entry("linux/arm/v6");
  const want = parsePlatform("linux/arm/v7");
  assert.equal(selectManifest(index(v5, v6), want), v6);
  assert.equal(selectManifest(index(v5), want), v5);
  assert.equal(selectManifest(index(v6), parsePlatform("linux/arm/v5")), undefined);
});

test("selectManifest() matches arm64/v8 with an entry that has no variant, and vice versa", () => {
  const bare = entry("linux/arm64");
  assert.equal(
    selectManifest(index(entry("linux/amd64"), bare), parsePlatform("linux/arm64/v8")),
    bare,
  );
  const v8 = entry("linux/arm64/v8");
  assert.equal(selectManifest(index(v8), { os: "linux", architecture: "aarch64" }), v8);
});

test("selectManifest() lets arm64 run arm/v7 images only when no arm64 image exists", () => {
  const arm = entry("linux/arm/v7");
  const arm64 = entry("linux/arm64/v8");
  assert.equal(selectManifest(index(arm, arm64), parsePlatform("linux/arm64")), arm64);
  assert.equal(selectManifest(index(arm), parsePlatform("linux/arm64")), arm);
});

test("selectManifest() lets arm64/v8.2 use v8.1 and v8 images, newest first", () => {
  const v8 = entry("linux/arm64");
  const v81 = entry("linux/arm64/v8.1");
  const v83 = entry("linux/arm64/v8.3");
  const want = { os: "linux", architecture: "arm64", variant: "v8.2" };
  assert.equal(selectManifest(index(v8, v81, v83), want), v81);
  assert.equal(selectManifest(index(v8, v83), want), v8);
});

test("selectManifest() lets amd64 fall back to 386 and amd64/v3 to v2", () => {
  const i386 = entry("linux/386");
  const v2 = entry("linux/amd64/v2");
  assert.equal(selectManifest(index(i386), parsePlatform("linux/amd64")), i386);
  assert.equal(
    selectManifest(index(i386, v2), { os: "linux", architecture: "amd64", variant: "v3" }),
    v2,
  );
  assert.equal(selectManifest(index(v2), parsePlatform("linux/amd64")), undefined);
});

test("selectManifest() skips attestations and other OSes, returning undefined when nothing fits", () => {
  const attestation = entry("unknown/unknown");
  const windows = entry("windows/amd64");
  const noPlatform: Descriptor = {
    mediaType: MediaType.OCI_MANIFEST,
    digest: `sha256:${"e".repeat(64)}`,
    size: 1,
  };
  const want = parsePlatform("linux/amd64");
  assert.equal(selectManifest(index(attestation, windows, noPlatform), want), undefined);
  const linux = entry("linux/amd64");
  assert.equal(selectManifest(index(attestation, windows, noPlatform, linux), want), linux);
});

test("selectManifest() requires an entry's os.features to be ones the platform has", () => {
  const needsWin32k = entry("windows/amd64", { "os.features": ["win32k"] });
  const plain = entry("windows/amd64");
  assert.equal(
    selectManifest(index(needsWin32k, plain), { os: "windows", architecture: "amd64" }),
    plain,
  );
  assert.equal(
    selectManifest(index(needsWin32k), {
      os: "windows",
      architecture: "amd64",
      "os.features": ["win32k"],
    }),
    needsWin32k,
  );
});

test("selectManifest() picks the first of several equal matches", () => {
  const first = entry("linux/amd64");
  const second = entry("linux/amd64");
  assert.equal(selectManifest(index(first, second), parsePlatform("linux/amd64")), first);
});
