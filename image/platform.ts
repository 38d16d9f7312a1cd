import { endianness } from "node:os";
import process from "node:process";
import type { Descriptor, Platform } from "./descriptor.ts";
import { InvalidPlatformError } from "./errors.ts";
import type { ImageIndex } from "./manifest.ts";

// Rules and tables follow github.com/containerd/platforms (database.go, platforms.go,
// compare.go), which Docker and BuildKit use, so `--platform` values mean the same here.
const KNOWN_OS = new Set([
  "aix",
  "android",
  "darwin",
  "dragonfly",
  "freebsd",
  "hurd",
  "illumos",
  "ios",
  "js",
  "linux",
  "nacl",
  "netbsd",
  "openbsd",
  "plan9",
  "solaris",
  "windows",
  "zos",
]);
const KNOWN_ARCH = new Set([
  "386",
  "amd64",
  "amd64p32",
  "arm",
  "armbe",
  "arm64",
  "arm64be",
  "ppc64",
  "ppc64le",
  "loong64",
  "mips",
  "mipsle",
  "mips64",
  "mips64le",
  "mips64p32",
  "mips64p32le",
  "ppc",
  "riscv",
  "riscv64",
  "s390",
  "s390x",
  "sparc",
  "sparc64",
  "wasm",
]);
const OS_RE = /^([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.%-]*)((?:\+[A-Za-z0-9_.%-]+)*)\))?$/;
const COMPONENT_RE = /^[A-Za-z0-9_.-]+$/;

function normalizeOS(os: string): string {
  const lower = os.toLowerCase();
  return lower === "macos" ? "darwin" : lower;
}

/** containerd's normalizeArch: aliases to Go names, and the canonical spelling of variants. */
function normalizeArch(architecture: string, variant: string): [string, string] {
  const arch = architecture.toLowerCase();
  const v = variant.toLowerCase();
  switch (arch) {
    case "i386":
      return ["386", ""];
    case "x86_64":
    case "x86-64":
    case "amd64":
      return ["amd64", v === "v1" ? "" : v];
    case "aarch64":
    case "arm64":
      // v8 is the baseline of arm64, so it is written as no variant at all.
      return ["arm64", v === "8" || v === "v8" ? "" : v];
    case "armhf":
      return ["arm", "v7"];
    case "armel":
      return ["arm", "v6"];
    case "arm":
      if (v === "" || v === "7") return ["arm", "v7"];
      return ["arm", v === "5" || v === "6" || v === "8" ? `v${v}` : v];
    default:
      return [arch, v];
  }
}

/**
 * Returns `platform` in canonical form, as containerd's `platforms.Normalize` does: the OS in
 * lower case (`macos` → `darwin`); `x86_64`/`x86-64` → `amd64`, `i386` → `386`, `aarch64` →
 * `arm64`, `armhf` → `arm/v7`, `armel` → `arm/v6`; arm without a variant is `v7`; arm64's
 * baseline `v8` and amd64's `v1` are written without a variant; `os.features` sorted and
 * deduplicated.
 *
 * @example
 * ```ts
 * import { normalizePlatform } from "./platform.ts";
 * const p = normalizePlatform({ os: "Linux", architecture: "armhf" });
 * if (p.os !== "linux" || p.architecture !== "arm" || p.variant !== "v7") throw new Error();
 * ```
 */
export function normalizePlatform(platform: Platform): Platform {
  const [architecture, variant] = normalizeArch(platform.architecture, platform.variant ?? "");
  const out: Platform = { ...platform, architecture, os: normalizeOS(platform.os) };
  if (variant === "") delete out.variant;
  else out.variant = variant;
  if (platform["os.features"] !== undefined) {
    out["os.features"] = [...new Set(platform["os.features"])].sort();
  }
  return out;
}

function decodeOption(value: string, input: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new InvalidPlatformError(input, `bad percent-encoding in "${value}"`);
  }
}

/**
 * Parses a platform specifier as `docker --platform` does:
 * `<os>[(<os.version>[+<feature>...])]/<arch>[/<variant>]`, or only an OS or only an
 * architecture (the other half is taken from {@linkcode hostPlatform}). The result is
 * normalized with {@linkcode normalizePlatform}. Throws {@linkcode InvalidPlatformError}.
 *
 * @example
 * ```ts
 * import { parsePlatform } from "./platform.ts";
 * const p = parsePlatform("linux/arm/v6");
 * if (p.architecture !== "arm" || p.variant !== "v6") throw new Error();
 * ```
 */
export function parsePlatform(specifier: string): Platform {
  if (specifier.includes("*")) {
    throw new InvalidPlatformError(specifier, "wildcards are not supported");
  }
  const parts = specifier.split("/");
  if (parts.length > 3) {
    throw new InvalidPlatformError(specifier, "expected <os>/<arch>[/<variant>]");
  }
  const osMatch = OS_RE.exec(parts[0]);
  if (osMatch === null) {
    throw new InvalidPlatformError(specifier, `"${parts[0]}" is not a valid operating system`);
  }
  for (const part of parts.slice(1)) {
    if (!COMPONENT_RE.test(part)) {
      throw new InvalidPlatformError(specifier, `"${part}" is not a valid component`);
    }
  }
  const host = hostPlatform();
  const platform: Platform = { os: osMatch[1], architecture: "" };
  if (osMatch[2]) platform["os.version"] = decodeOption(osMatch[2], specifier);
  if (osMatch[3]) {
    platform["os.features"] = osMatch[3].slice(1).split("+").map((f) => decodeOption(f, specifier));
  }
  if (parts.length === 1) {
    if (KNOWN_OS.has(normalizeOS(platform.os))) {
      platform.architecture = host.architecture;
      if (host.variant !== undefined) platform.variant = host.variant;
    } else {
      const [architecture] = normalizeArch(parts[0], "");
      if (!KNOWN_ARCH.has(architecture)) {
        throw new InvalidPlatformError(specifier, "unknown operating system or architecture");
      }
      return normalizePlatform({ os: host.os, architecture: parts[0] });
    }
  } else {
    platform.architecture = parts[1];
    if (parts.length === 3) platform.variant = parts[2];
  }
  return normalizePlatform(platform);
}

/**
 * Formats a platform as `os/arch[/variant]`, e.g. `linux/arm64/v8` or `linux/amd64`;
 * `unknown` when the OS is empty.
 */
export function formatPlatform(platform: Platform): string {
  if (!platform.os) return "unknown";
  return [platform.os, platform.architecture, platform.variant].filter((s) => s).join("/");
}

const NODE_ARCH: Record<string, string> = {
  x64: "amd64",
  ia32: "386",
  arm64: "arm64",
  arm: "arm",
  s390x: "s390x",
  s390: "s390",
  riscv64: "riscv64",
  loong64: "loong64",
  mips: "mips",
  mipsel: "mipsle",
  mips64el: "mips64le",
};
const NODE_OS: Record<string, string> = { win32: "windows", sunos: "solaris" };

/**
 * The platform this process runs on, from `node:process` (`x64` → `amd64`, `win32` →
 * `windows`, ...), normalized.
 */
export function hostPlatform(): Platform {
  let architecture = NODE_ARCH[process.arch] ?? process.arch;
  // Node names both byte orders ppc64; Go tells them apart.
  if (process.arch === "ppc64" && endianness() === "LE") architecture = "ppc64le";
  const platform: Platform = { os: NODE_OS[process.platform] ?? process.platform, architecture };
  if (architecture === "arm") {
    const version = (process.config.variables as Record<string, unknown>).arm_version;
    if (typeof version === "string" && version !== "") platform.variant = `v${version}`;
  }
  return normalizePlatform(platform);
}

function withVariant(base: Platform, architecture: string, variant?: string): Platform {
  const p: Platform = { ...base, architecture };
  if (variant) p.variant = variant;
  else delete p.variant;
  return p;
}

/** The platforms `platform` can run, best first: containerd's `platformVector`. */
function compatible(platform: Platform): Platform[] {
  const vector = [platform];
  const number = (v: string | undefined): number =>
    /^v?\d+$/.test(v ?? "") ? parseInt(v!.replace("v", ""), 10) : NaN;
  switch (platform.architecture) {
    case "amd64": {
      const level = number(platform.variant);
      for (let v = level - 1; v >= 1; v--) vector.push(withVariant(platform, "amd64", `v${v}`));
      vector.push(withVariant(platform, "386"));
      break;
    }
    case "arm": {
      const level = number(platform.variant);
      for (let v = level - 1; v >= 5; v--) vector.push(withVariant(platform, "arm", `v${v}`));
      break;
    }
    case "arm64": {
      let variant = platform.variant ?? "v8";
      const [majorText, minorText] = variant.split(".");
      let major = number(majorText);
      if (major >= 8) {
        let minor = variant.length === 4 && /^\d$/.test(minorText ?? "") ? Number(minorText) : 0;
        const name = (maj: number, min: number): string => min === 0 ? `v${maj}` : `v${maj}.${min}`;
        if (major === 9) {
          for (let m = minor - 1; m >= 0; m--) {
            vector.push(withVariant(platform, "arm64", name(9, m)));
          }
          // v9.0 branched from v8.5, so v9.x also runs v8.(x+5).
          minor += 5;
          major = 8;
          vector.push(withVariant(platform, "arm64", `v8.${minor}`));
        }
        for (let m = minor - 1; m >= 0; m--) {
          vector.push(withVariant(platform, "arm64", name(major, m)));
        }
      }
      if (variant.startsWith("v8.") || variant.startsWith("v9.")) variant = "v8";
      vector.push(...compatible(withVariant(platform, "arm", variant)));
      break;
    }
  }
  return vector.map(normalizePlatform);
}

function windowsBuild(version: string | undefined): string {
  return (version ?? "").split(".").slice(0, 3).join(".");
}

/** containerd's matcher: same OS, architecture and variant; features a subset of ours. */
function matches(want: Platform, candidate: Platform): boolean {
  const have = normalizePlatform(candidate);
  if (have.os !== want.os || have.architecture !== want.architecture) return false;
  if ((have.variant ?? "") !== (want.variant ?? "")) return false;
  if (want.os === "windows" && want["os.version"] && have["os.version"]) {
    if (windowsBuild(want["os.version"]) !== windowsBuild(have["os.version"])) return false;
  }
  const features = new Set(want["os.features"] ?? []);
  return (have["os.features"] ?? []).every((f) => features.has(f));
}

/**
 * Picks the entry of `index` that best runs on `platform`, as containerd's
 * `platforms.Only(platform)` orders them: an exact match first, then compatible platforms in
 * order of preference (arm64/v8 also runs entries without a variant, then arm/v8...v5;
 * arm/v7 falls back to v6, then v5; amd64 to 386). Entries without a platform are skipped;
 * among equal matches the first in the index wins. Returns `undefined` when nothing fits.
 *
 * @example
 * ```ts
 * import { selectManifest } from "./platform.ts";
 * const d = (n: number, architecture: string, variant?: string) => ({
 *   mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   digest: `sha256:${String(n).repeat(64)}` as const,
 *   size: 1,
 *   platform: { os: "linux", architecture, ...(variant ? { variant } : {}) },
 * });
 * const index = { schemaVersion: 2 as const, manifests: [d(1, "amd64"), d(2, "arm", "v6")] };
 * const chosen = selectManifest(index, { os: "linux", architecture: "arm", variant: "v7" });
 * if (chosen?.digest !== `sha256:${"2".repeat(64)}`) throw new Error();
 * ```
 */
export function selectManifest(index: ImageIndex, platform: Platform): Descriptor | undefined {
  const entries = index.manifests.filter((d) => d.platform !== undefined);
  for (const want of compatible(normalizePlatform(platform))) {
    const found = entries.find((d) => matches(want, d.platform!));
    if (found !== undefined) return found;
  }
  return undefined;
}
