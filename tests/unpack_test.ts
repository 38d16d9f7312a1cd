/**
 * `stratum unpack` against the real peers: a busybox image built offline by stratum is
 * unpacked into a bundle that `runc run` runs (its stdout is what the image's CMD prints),
 * and whose rootfs equals `umoci unpack`'s of the same image read straight from the store
 * (an OCI layout), compared as listings of path, type, mode, owner, size, content hash and
 * link target; with `--uid-map`/`--gid-map` and `--rootless` too. The config.json agrees
 * with umoci's where umoci 0.4.7 and current umoci agree (see `comparable`). A hostile
 * layer through unpack leaves a canary outside untouched, and a refused one leaves nothing.
 *
 * Not compared with umoci, on purpose: mtimes (umoci sets the root's to the epoch), the
 * files umoci adds beside rootfs (`umoci.json`, the mtree manifest), `terminal` (stratum
 * writes false so the bundle runs without a console), the hostname, the `ociVersion`, and
 * the namespace list (umoci 0.4.7 predates the cgroup namespace current umoci adds).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmod,
  copyFile,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { openStore } from "../storage/mod.ts";
import { listDirectory } from "../unionfs/_listing_test_util.ts";
import { stratum } from "./_cli.ts";
import { missingPeers, which } from "./_peers.ts";
import { d, f, l, putImage, putLayer } from "./_union_util.ts";

const notRoot = process.getuid?.() !== 0 ? "needs root (RUN in the build, runc run)" : false;
const skip = notRoot || missingPeers("runc", "umoci", "busybox");

const IMAGE = "unpack/bb:1";
const DOCKERFILE = `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox","--install","-s","/bin"]
RUN mkdir -p /etc /home/app /data/sub /opt/gone && \\
 printf 'root:x:0:0:root:/root:/bin/sh\\napp:x:1000:1000:app:/home/app:/bin/sh\\n' > /etc/passwd && \\
 printf 'root:x:0:\\napp:x:1000:\\nstaff:x:50:app\\n' > /etc/group && \\
 echo keep > /data/keep && chmod 4755 /data/keep && chown 1000:50 /data/sub && \\
 echo bye > /opt/gone/f && echo secret > /data/sub/s && chmod 0600 /data/sub/s
RUN rm -rf /opt/gone && ln /data/keep /data/hard && ln -s ../keep /data/sub/link && \\
 mkfifo /data/fifo && chown -R 1000:1000 /home/app
USER app
WORKDIR /home/app
ENV GREETING=hello
LABEL com.example.kind=unpack-test
EXPOSE 8080/tcp 53/udp
STOPSIGNAL SIGUSR1
VOLUME /data/vol
CMD ["sh", "-c", "echo $GREETING from $(id -u):$(id -g) groups $(id -G) in $PWD home $HOME"]
`;
const OUTPUT = "hello from 1000:1000 groups 1000 50 in /home/app home /home/app\n";

/**
 * The root's own line, then every path under `root` as unionfs's tests list them, without
 * xattrs: umoci --rootless records owners in `user.rootlesscontainers`, stratum does not.
 */
async function listing(root: string): Promise<string[]> {
  const top = await lstat(root);
  const self = `. dir ${(top.mode & 0o7777).toString(8)} ${top.uid}:${top.gid}`;
  return [self, ...await listDirectory(root, { mtimes: false, xattrs: false })];
}

/** The parts of a config.json that umoci 0.4.7 and stratum (after current umoci) share. */
// deno-lint-ignore no-explicit-any
function comparable(spec: any): unknown {
  // umoci 0.4.7 writes empty image annotations (author ""); current umoci leaves them out.
  const annotations = Object.fromEntries(
    Object.entries(spec.annotations).filter(([k, v]) =>
      !(k.startsWith("org.opencontainers.image.") && v === "")
    ),
  );
  return {
    args: spec.process.args,
    env: spec.process.env,
    cwd: spec.process.cwd,
    user: spec.process.user,
    capabilities: spec.process.capabilities,
    rlimits: spec.process.rlimits,
    noNewPrivileges: spec.process.noNewPrivileges,
    root: spec.root,
    annotations,
    mounts: spec.mounts,
    uidMappings: spec.linux.uidMappings,
    gidMappings: spec.linux.gidMappings,
    resources: spec.linux.resources,
    namespaces: spec.linux.namespaces.filter((n: { type: string }) => n.type !== "cgroup"),
    maskedPaths: spec.linux.maskedPaths,
    readonlyPaths: spec.linux.readonlyPaths,
  };
}

let work = "";
let root = "";
let umociRef = "";

/** Runs a bundle under runc with a fresh container id; returns its stdout. */
function runcRun(bundle: string): string {
  const id = `stratum-unpack-${randomBytes(6).toString("hex")}`;
  const state = join(work, "runc-state");
  try {
    const r = spawnSync("runc", ["--root", state, "run", "--bundle", bundle, id], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 60_000,
    });
    assert.equal(r.status, 0, `runc run failed: ${r.stderr}`);
    return r.stdout;
  } finally {
    spawnSync("runc", ["--root", state, "delete", "-f", id], { stdio: "ignore" });
  }
}

function umoci(...args: string[]): void {
  execFileSync("umoci", args, { stdio: ["ignore", "pipe", "pipe"] });
}

async function config(bundle: string): Promise<unknown> {
  return JSON.parse(await readFile(join(bundle, "config.json"), "utf8"));
}

describe("stratum unpack", { skip }, () => {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), "stratum-unpack-interop-"));
    root = join(work, "store");
    const ctx = join(work, "ctx");
    await mkdir(ctx);
    await copyFile("/bin/busybox", join(ctx, "busybox"));
    await writeFile(join(ctx, "Dockerfile"), DOCKERFILE);
    const built = await stratum(root, "build", "-q", "-t", IMAGE, ctx);
    assert.equal(built.code, 0, built.stderr);
    // umoci names the store's images by their full reference, from index.json.
    const names = execFileSync("umoci", ["ls", "--layout", root], { encoding: "utf8" });
    umociRef = names.split("\n").find((n) => n.endsWith(IMAGE))!;
    assert.ok(umociRef, names);
  });

  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  test("the bundle equals umoci unpack's (rootfs tree and config), and runc runs it", async () => {
    const ours = join(work, "b1");
    const theirs = join(work, "u1");
    const r = await stratum(root, "unpack", IMAGE, ours);
    assert.equal(r.code, 0, r.stderr);
    umoci("unpack", "--image", `${root}:${umociRef}`, theirs);
    const [a, b] = [await listing(join(ours, "rootfs")), await listing(join(theirs, "rootfs"))];
    assert.ok(
      a.some((line) => /^data\/keep file 4755 0:0 5 [0-9a-f]{16} link#1$/.test(line)),
      a.join("\n"),
    );
    assert.ok(a.some((line) => line.startsWith("data/sub dir 755 1000:50")), a.join("\n"));
    assert.ok(!a.some((line) => line.startsWith("opt/gone")));
    assert.deepEqual(a, b);
    assert.deepEqual(comparable(await config(ours)), comparable(await config(theirs)));
    assert.equal((await lstat(ours)).mode & 0o777, (await lstat(theirs)).mode & 0o777);
    // Last: runc makes the volume's mount point in the rootfs.
    assert.equal(runcRun(ours), OUTPUT);
  });

  test("--uid-map/--gid-map map owners as umoci does, and runc runs the bundle", async () => {
    const maps = ["--uid-map", "0:100000:65536", "--gid-map", "0:100000:65536"];
    const ours = join(work, "b2");
    const theirs = join(work, "u2");
    const r = await stratum(root, "unpack", ...maps, IMAGE, ours);
    assert.equal(r.code, 0, r.stderr);
    umoci("unpack", ...maps, "--image", `${root}:${umociRef}`, theirs);
    const a = await listing(join(ours, "rootfs"));
    assert.ok(a.some((line) => line.startsWith("data/sub dir 755 101000:100050")), a.join("\n"));
    assert.deepEqual(a, await listing(join(theirs, "rootfs")));
    assert.deepEqual(comparable(await config(ours)), comparable(await config(theirs)));
    // The container's root is host uid 100000: it must be let through to the rootfs.
    await chmod(work, 0o711);
    await chmod(ours, 0o711);
    assert.equal(runcRun(ours), OUTPUT);
  });

  test("--rootless writes what umoci --rootless writes", async () => {
    const ours = join(work, "b3");
    const theirs = join(work, "u3");
    const r = await stratum(root, "unpack", "--rootless", IMAGE, ours);
    assert.equal(r.code, 0, r.stderr);
    umoci("unpack", "--rootless", "--image", `${root}:${umociRef}`, theirs);
    assert.deepEqual(await listing(join(ours, "rootfs")), await listing(join(theirs, "rootfs")));
    // Including the resolv.conf bind's locked flags, read from mountinfo here and statfs there
    // (umoci's order is Go's map order: compared as sets).
    // deno-lint-ignore no-explicit-any
    const sorted = (spec: any) => {
      const c = comparable(spec) as { mounts: { options?: string[] }[] };
      for (const m of c.mounts) m.options?.sort();
      return c;
    };
    assert.deepEqual(sorted(await config(ours)), sorted(await config(theirs)));
  });

  test("a --rootless bundle runs under runc as an unprivileged user", async (t) => {
    const users = Number(
      await readFile("/proc/sys/user/max_user_namespaces", "utf8").catch(() => 0),
    );
    const why = !which("setpriv")
      ? "setpriv (util-linux) missing"
      : users > 0
      ? false
      : "user namespaces are disabled (user.max_user_namespaces = 0)";
    if (why) {
      console.log(`SKIP: ${why}`);
      return t.skip(why);
    }
    // An image that runs as root, which is the only user a rootless bundle maps.
    const ctx = join(work, "ctx-root");
    await mkdir(ctx);
    await writeFile(
      join(ctx, "Dockerfile"),
      `FROM ${IMAGE}\nUSER root\nCMD ["sh", "-c", "echo rootless $(id -u) $(cat /proc/self/uid_map)"]\n`,
    );
    const built = await stratum(root, "build", "-q", "-t", "unpack/root:1", ctx);
    assert.equal(built.code, 0, built.stderr);
    // What nobody's own `stratum unpack --rootless` makes: every file nobody's, mapped to root.
    const bundle = join(work, "b4");
    const nobody = ["--uid-map", "0:65534:1", "--gid-map", "0:65534:1"];
    const r = await stratum(root, "unpack", "--rootless", ...nobody, "unpack/root:1", bundle);
    assert.equal(r.code, 0, r.stderr);
    execFileSync("chown", ["-R", "65534:65534", bundle]);
    await chmod(work, 0o711);
    const id = `stratum-unpack-${randomBytes(6).toString("hex")}`;
    const state = join(work, "runc-rootless");
    await mkdir(state, { mode: 0o700 });
    execFileSync("chown", ["65534:65534", state]);
    const asNobody = ["--reuid=65534", "--regid=65534", "--clear-groups", "env", `HOME=${state}`];
    try {
      const run = spawnSync(
        "setpriv",
        [...asNobody, "runc", "--root", state, "run", "--bundle", bundle, id],
        { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 },
      );
      assert.equal(run.status, 0, `rootless runc run failed: ${run.stderr}`);
      assert.equal(run.stdout.replace(/\s+/g, " ").trim(), "rootless 0 0 65534 1");
    } finally {
      spawnSync("setpriv", [...asNobody, "runc", "--root", state, "delete", "-f", id], {
        stdio: "ignore",
      });
    }
  });

  test("errors are one line and leave nothing: a missing image, a full directory", async () => {
    const bundle = join(work, "nothing");
    let r = await stratum(root, "unpack", "unpack/none:1", bundle);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "stratum unpack: No such image: unpack/none:1");
    r = await stratum(root, "unpack", "Bad Reference!", bundle);
    assert.equal(r.code, 1);
    await assert.rejects(lstat(bundle), { code: "ENOENT" });
    r = await stratum(root, "unpack", IMAGE, join(work, "b1"));
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^stratum unpack: Cannot unpack into ".*b1": the directory is not empty$/,
    );
    r = await stratum(root, "unpack", "--uid-map", "0:x", IMAGE, bundle);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /invalid --uid-map: Invalid ID mapping "0:x"/);
    r = await stratum(root, "unpack", IMAGE);
    assert.equal(r.code, 2);
    assert.deepEqual((await readdir(work)).filter((n) => n.includes(".unpack-")), []);
  });

  test("a hostile layer through unpack leaves a canary outside untouched", async () => {
    const canary = join(work, "canary");
    await mkdir(canary);
    await writeFile(join(canary, "existing"), "original");
    const store = await openStore(root);
    const up = "../".repeat(40);
    const rel = canary.replace(/^\/+/, "");
    await putImage(store, [
      await putLayer(store, [
        d("etc/"),
        l("etc/passwd", join(canary, "existing")),
        l("lnk", canary),
        f(`${up}${rel}/dotdot`, "x"),
        f(`${canary}/abs`, "x"),
      ]),
      await putLayer(store, [f("lnk/through", "x"), f("lnk/existing", "OVERWRITTEN")]),
    ], "unpack/hostile:1");
    const bundle = join(work, "hostile");
    const r = await stratum(root, "unpack", "unpack/hostile:1", bundle);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readdir(canary), ["existing"]);
    assert.equal(await readFile(join(canary, "existing"), "utf8"), "original");
    // What aimed at the canary landed inside the rootfs, at the canary's path.
    assert.deepEqual((await readdir(join(bundle, "rootfs", rel))).sort(), [
      "abs",
      "dotdot",
      "existing",
      "through",
    ]);

    // A layer refused as invalid leaves no bundle and no temporary directory.
    await putImage(
      store,
      [await putLayer(store, [f("a")]), await putLayer(store, [f(".wh..")])],
      "unpack/bad:1",
    );
    const bad = join(work, "bad");
    const refused = await stratum(root, "unpack", "unpack/bad:1", bad);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /invalid whiteout name/);
    await assert.rejects(lstat(bad), { code: "ENOENT" });
    assert.deepEqual((await readdir(work)).filter((n) => n.includes(".unpack-")), []);
  });
});
