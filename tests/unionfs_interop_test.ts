/**
 * unionfs against the real peers: an image built by a Docker daemon with RUN steps that
 * delete files, replace a directory with a file and a file with a directory, and hardlink.
 * `flattenToTar` must equal `docker export` of a created container, and
 * `flattenToDirectory` must equal `umoci unpack`'s rootfs, compared as listings of path,
 * type, mode, uid, gid, size, content hash and link target.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFile,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileLayer, flattenToDirectory, flattenToTar, type LayerSource } from "../unionfs/mod.ts";
import { missingPeers, which } from "./_peers.ts";

const TAG = "stratum-unionfs-interop:latest";
const DOCKERFILE = `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /data/dir /data/file /opt/gone && echo hi > /data/dir/a && echo x > /data/file/x \\
 && echo keep > /keep && echo bye > /opt/gone/f && chmod 4755 /keep && chown 12:34 /data/dir/a
RUN rm -rf /data/dir && echo now-a-file > /data/dir && rm -rf /data/file && mkdir /data/file \\
 && echo y > /data/file/y && ln /keep /keep-hard && rm -rf /opt/gone && ln -s ../keep /data/link \\
 && mkfifo /data/fifo
`;

// Paths Docker adds to every container, which an image flatten does not have.
const DOCKER_ADDED =
  /^(\.dockerenv|dev(\/.*)?|proc|sys|etc(\/(hosts|hostname|resolv\.conf|mtab))?)$/;

function fileFromPath(path: string, digest: string): LayerSource {
  return fileLayer(path, digest);
}

async function listing(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(rel: string): Promise<void> {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      if (DOCKER_ADDED.test(path)) continue;
      const st = await lstat(join(root, path));
      const type = st.isDirectory()
        ? "dir"
        : st.isSymbolicLink()
        ? "symlink"
        : st.isFIFO()
        ? "fifo"
        : st.isFile()
        ? "file"
        : "other";
      const hash = type === "file"
        ? createHash("sha256").update(await readFile(join(root, path))).digest("hex").slice(0, 16)
        : "";
      const target = type === "symlink" ? await readlink(join(root, path)) : "";
      const mode = type === "symlink" ? "" : (st.mode & 0o7777).toString(8);
      const size = type === "file" ? st.size : "";
      out.push(`${path} ${type} ${mode} ${st.uid}:${st.gid} ${size} ${hash} ${target}`.trim());
      if (type === "dir") await walk(path);
    }
  }
  await walk("");
  return out;
}

let work = "";
let built = false;

function docker(...args: string[]): string {
  return execFileSync("docker", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

async function buildImage(): Promise<void> {
  if (built) return;
  const ctx = join(work, "ctx");
  await mkdir(ctx, { recursive: true });
  await copyFile(which("busybox")!, join(ctx, "busybox"));
  await writeFile(join(ctx, "Dockerfile"), DOCKERFILE);
  // --no-cache: another test's intermediate image, reused from the cache, may be removed
  // by that test's `rmi -f` mid-build ("unable to find image").
  docker("build", "--network=host", "--no-cache", "-q", "-t", TAG, ctx);
  built = true;
}

function untar(tar: string, dir: string): void {
  execFileSync("tar", ["-x", "-p", "--numeric-owner", "-f", tar, "-C", dir]);
}

/** The image's layers from `docker save`, bottom first. */
async function savedLayers(): Promise<LayerSource[]> {
  const dir = join(work, "saved");
  await mkdir(dir, { recursive: true });
  docker("save", "-o", join(work, "saved.tar"), TAG);
  untar(join(work, "saved.tar"), dir);
  const [manifest] = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8"));
  return (manifest.Layers as string[]).map((p) => fileFromPath(join(dir, p), p));
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "stratum-unionfs-interop-"));
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

test(
  "flattenToTar() equals docker export of a created container",
  { skip: missingPeers("dockerd", "busybox") },
  async () => {
    await buildImage();
    const id = docker("create", TAG, "/bin/true").trim();
    try {
      docker("export", "-o", join(work, "export.tar"), id);
    } finally {
      docker("rm", id);
    }
    const theirs = join(work, "docker-export");
    const ours = join(work, "stratum-export");
    await mkdir(theirs);
    await mkdir(ours);
    untar(join(work, "export.tar"), theirs);
    const tar = flattenToTar(await savedLayers());
    await writeFile(join(work, "ours.tar"), new Uint8Array(await new Response(tar).arrayBuffer()));
    untar(join(work, "ours.tar"), ours);
    const expected = await listing(theirs);
    assert.ok(expected.some((l) => l.startsWith("data/dir file")), "the image has the RUN changes");
    assert.deepEqual(await listing(ours), expected);
  },
);

test(
  "flattenToDirectory() equals umoci unpack's rootfs",
  { skip: missingPeers("dockerd", "busybox", "umoci", "skopeo") },
  async () => {
    await buildImage();
    const layout = join(work, "oci");
    execFileSync("skopeo", ["copy", "-q", `docker-daemon:${TAG}`, `oci:${layout}:latest`]);
    execFileSync("umoci", ["unpack", "--image", `${layout}:latest`, join(work, "bundle")], {
      stdio: "pipe",
    });
    const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8"));
    const blob = (d: string) => join(layout, "blobs", ...d.split(":"));
    const manifest = JSON.parse(await readFile(blob(index.manifests[0].digest), "utf8"));
    const layers = (manifest.layers as { digest: string }[]).map((l) =>
      fileFromPath(blob(l.digest), l.digest)
    );
    const ours = join(work, "stratum-rootfs");
    const result = await flattenToDirectory(layers, ours);
    assert.deepEqual(result.skipped, []);
    assert.deepEqual(await listing(ours), await listing(join(work, "bundle", "rootfs")));
  },
);
