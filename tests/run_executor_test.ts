import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { MemoryBlobStore } from "../storage/mod.ts";
import {
  type LayerRef,
  openLayer,
  SnapshotStore,
  storeLayer,
  type WriteEntry,
} from "../unionfs/mod.ts";
import {
  type ExecutorKind,
  type RunFailedError,
  type RunRequest,
  type RunResult,
  runStep,
} from "../builder/run_executor.ts";
import { missingPeers } from "./_peers.ts";

const enc = new TextEncoder();
const notRoot = process.getuid?.() !== 0 ? "needs root (mounts, namespaces)" : false;

/** A busybox base: /bin applets, users root and app (uid 1000, also in group extra). */
function baseEntries(): WriteEntry[] {
  const busybox = new Uint8Array(readFileSync("/bin/busybox"));
  const applets = execFileSync("/bin/busybox", ["--list"], { encoding: "utf8" })
    .split("\n").filter((a) => a && a !== "busybox").sort();
  const file = (name: string, text: string, extra = {}): WriteEntry => ({
    header: { name, type: "file", size: enc.encode(text).length, mode: 0o644, ...extra },
    body: enc.encode(text),
  });
  const dir = (name: string, extra = {}): WriteEntry => ({
    header: { name, type: "directory", mode: 0o755, ...extra },
  });
  return [
    dir("bin/"),
    {
      header: { name: "bin/busybox", type: "file", size: busybox.length, mode: 0o755 },
      body: busybox,
    },
    ...applets.map((a): WriteEntry => ({
      header: { name: `bin/${a}`, type: "symlink", linkname: "busybox", mode: 0o777 },
    })),
    dir("data/"),
    dir("data/dir/"),
    file("data/dir/inner", "inner"),
    file("data/old.txt", "old"),
    dir("etc/"),
    file("etc/group", "root:x:0:\napp:x:1000:\nextra:x:2000:app\n"),
    file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"),
    dir("home/"),
    dir("home/app/", { uid: 1000, gid: 1000 }),
    dir("tmp/", { mode: 0o1777 }),
  ];
}

interface Fixture {
  dir: string;
  blobs: MemoryBlobStore;
  snapshots: SnapshotStore;
  base: LayerRef;
  lowers: string[];
}

let fixture: Promise<Fixture> | undefined;
function setup(): Promise<Fixture> {
  fixture ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), "stratum-run-"));
    const blobs = new MemoryBlobStore();
    const { descriptor, diffId } = await storeLayer(blobs, baseEntries());
    const base = { descriptor, diffId };
    const snapshots = new SnapshotStore(join(dir, "store"));
    const lowers = await snapshots.prepare([base], blobs);
    return { dir, blobs, snapshots, base, lowers };
  })();
  return fixture;
}

after(async () => {
  if (fixture) await rm((await fixture).dir, { recursive: true, force: true });
});

interface Ran extends RunResult {
  stdout: string;
  /** The layer's entries as "name type uid". */
  entries: string[];
  mtimes: number[];
}

async function run(
  executor: ExecutorKind,
  req: Partial<RunRequest> & {
    script: string;
    onStdout?: (text: string) => void;
    sourceDateEpoch?: number;
  },
  over?: { lowers: string[]; parentChainId: string },
): Promise<Ran> {
  const f = await setup();
  let stdout = "";
  const result = await runStep({
    lowers: over?.lowers ?? f.lowers,
    args: ["/bin/sh", "-c", req.script],
    env: req.env ?? [],
    cwd: req.cwd ?? "/",
    network: req.network ?? "host",
    user: req.user,
    mounts: req.mounts,
    onOutput: (c, s) => {
      if (s === "stdout") stdout += new TextDecoder().decode(c);
      req.onStdout?.(stdout);
    },
    signal: req.signal,
  }, {
    blobs: f.blobs,
    snapshots: f.snapshots,
    parentChainId: over?.parentChainId ?? f.base.diffId,
    workdir: join(f.dir, "work"),
    cacheDir: join(f.dir, "cache"),
    executor,
    sourceDateEpoch: req.sourceDateEpoch,
  });
  const entries: string[] = [];
  const mtimes: number[] = [];
  const source = {
    digest: result.layer.descriptor.digest,
    open: () => f.blobs.get(result.layer.descriptor.digest),
  };
  for await (const { header, body } of openLayer(source)) {
    entries.push(`${header.name.replace(/\/$/, "")} ${header.type} ${header.uid}`);
    const text = new TextDecoder().decode(await new Response(body).arrayBuffer());
    if (text.includes("s3cr3t")) throw new Error(`the secret leaked into ${header.name}`);
    mtimes.push(header.mtime);
  }
  return { ...result, stdout, entries, mtimes };
}

function names(r: Ran): string[] {
  return r.entries.map((e) => e.split(" ")[0]);
}

for (const executor of ["runc", "chroot"] as const) {
  const skip = notRoot || missingPeers("busybox") ||
    (executor === "runc" ? missingPeers("runc") : missingPeers("unshare"));
  describe(`runStep() with the ${executor} executor`, { skip }, () => {
    test("records writes, deletions as whiteouts and a dir replaced by a file, but not /etc/hosts", async () => {
      const r = await run(executor, {
        script: "echo new > /new.txt && rm /data/old.txt && rm -r /data/dir && " +
          "echo f > /data/dir && grep -c buildkitsandbox /etc/hosts && cat /etc/resolv.conf >/dev/null",
      });
      assert.equal(r.exitCode, 0);
      assert.equal(r.stdout.trim(), "1");
      const n = names(r);
      assert.ok(n.includes("new.txt"), n.join());
      assert.ok(n.includes("data/.wh.old.txt"), n.join());
      assert.ok(r.entries.includes("data/dir file 0"), r.entries.join());
      assert.ok(!n.some((x) => x.startsWith("etc")), `no /etc in ${n.join()}`);
      // The layer's snapshot was adopted: a next step over it sees the changes.
      const f = await setup();
      const next = await run(executor, {
        script: "cat /new.txt /data/dir; ls /data",
      }, { lowers: [...f.lowers, f.snapshots.path(r.chainId)], parentChainId: r.chainId });
      assert.equal(next.stdout, "new\nf\ndir\n");
    });

    test("runs as USER from /etc/passwd in WORKDIR with env and the default PATH", async () => {
      const r = await run(executor, {
        user: "app",
        cwd: "/home/app/work",
        env: ["FOO=bar baz"],
        script: 'id -u; id -g; id -G; pwd; echo "$FOO"; echo "$PATH"; echo "$HOME"; touch mine',
      });
      const [uid, gid, groups, pwd, foo, path, home] = r.stdout.trim().split("\n");
      assert.deepEqual([uid, gid, pwd, foo, home], [
        "1000",
        "1000",
        "/home/app/work",
        "bar baz",
        "/home/app",
      ]);
      assert.equal(path, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
      // unshare -G drops supplementary groups; the OCI runtime applies them.
      assert.deepEqual(groups.split(" ").sort(), executor === "runc" ? ["1000", "2000"] : ["1000"]);
      assert.ok(r.entries.includes("home/app/work directory 1000"), r.entries.join());
      assert.ok(r.entries.includes("home/app/work/mine file 1000"), r.entries.join());
      const numeric = await run(executor, { user: "4242:4343", script: "id -u; id -g" });
      assert.equal(numeric.stdout, "4242\n4343\n");
    });

    test("fails clearly for a named USER missing from /etc/passwd", async () => {
      await assert.rejects(
        run(executor, { user: "ghost", script: "true" }),
        /unable to find user ghost/,
      );
    });

    test("gives each mount type: cache persists, secret readable, bind read-only, tmpfs; none in the layer", async () => {
      const f = await setup();
      const hostDir = join(f.dir, `bind-${executor}`);
      await mkdir(hostDir, { recursive: true });
      await writeFile(join(hostDir, "in.txt"), "from host");
      const secret = join(f.dir, "secret");
      await writeFile(secret, "s3cr3t");
      const mounts = [
        { type: "cache" as const, target: "/var/cache/app", id: `c-${executor}` },
        { type: "secret" as const, target: "", id: "token", secretPath: secret },
        { type: "bind" as const, target: "/src", source: hostDir },
        { type: "tmpfs" as const, target: "/scratch" },
        { type: "bind" as const, target: "/rw", source: hostDir, readonly: false },
        {
          type: "cache" as const,
          target: "/owned",
          id: `o-${executor}`,
          uid: 1000,
          gid: 1001,
          mode: 0o750,
        },
      ];
      const script = "echo run >> /var/cache/app/log; cat /var/cache/app/log | wc -l; " +
        "cat /run/secrets/token; echo; cat /src/in.txt; echo; " +
        "(touch /src/x 2>/dev/null && echo rw) || echo ro; " +
        "echo t > /scratch/t && grep -c ' /scratch tmpfs' /proc/mounts; stat -c '%u:%g %a' /owned; " +
        "touch /rw/new && echo rw-ok";
      const first = await run(executor, { script, mounts });
      const second = await run(executor, { script, mounts });
      assert.deepEqual(first.stdout.trim().split("\n").map((l) => l.trim()), [
        "1",
        "s3cr3t",
        "from host",
        "ro",
        "1",
        "1000:1001 750",
        "rw-ok",
      ]);
      assert.equal(
        second.stdout.trim().split("\n")[0].trim(),
        "2",
        "the cache kept the first run's line",
      );
      for (const r of [first, second]) {
        const n = names(r);
        for (const p of ["var", "run", "src", "scratch", "etc", "owned", "rw"]) {
          assert.ok(!n.some((x) => x === p || x.startsWith(`${p}/`)), `${p} in ${n.join()}`);
        }
      }
      assert.equal(await readFile(join(hostDir, "in.txt"), "utf8"), "from host");
      // Writes to a read-write bind are thrown away, as in BuildKit.
      assert.deepEqual(await readdir(hostDir), ["in.txt"]);
    });

    test("network none leaves only the loopback interface, up", async () => {
      const r = await run(executor, {
        network: "none",
        script: "ls /sys/class/net; cat /sys/class/net/lo/operstate /sys/class/net/lo/flags",
      });
      const lines = r.stdout.trim().split("\n");
      assert.equal(lines[0], "lo");
      // IFF_UP is bit 0 of the interface flags.
      assert.equal(Number(lines[2]) & 1, 1);
      const host = await run(executor, { network: "host", script: "ls /sys/class/net" });
      const hostIfaces = execFileSync("ls", ["/sys/class/net"], { encoding: "utf8" });
      assert.equal(host.stdout, hostIfaces);
    });

    test("a failing command rejects with its exit code and the last 20 lines of output", async () => {
      await assert.rejects(
        run(executor, { script: "for i in $(seq 1 30); do echo line$i; done; exit 3" }),
        (e: RunFailedError) => {
          assert.equal(e.name, "RunFailedError");
          assert.equal(e.exitCode, 3);
          assert.deepEqual(
            e.tail.split("\n"),
            Array.from({ length: 20 }, (_, i) => `line${i + 11}`),
          );
          assert.match(e.message, /did not complete successfully: exit code: 3/);
          assert.deepEqual(e.command.slice(0, 2), ["/bin/sh", "-c"]);
          return true;
        },
      );
      // stderr is in the tail too (its order against stdout is the pipes' to decide).
      await assert.rejects(
        run(executor, { script: "echo out; echo oops >&2; exit 2" }),
        (e: RunFailedError) => {
          assert.equal(e.exitCode, 2);
          assert.deepEqual(e.tail.split("\n").sort(), ["oops", "out"]);
          return true;
        },
      );
    });

    test("SOURCE_DATE_EPOCH clamps times in the layer and in the adopted snapshot", async () => {
      const f = await setup();
      const r = await run(executor, { script: "echo e > /epoch.txt", sourceDateEpoch: 1000 });
      assert.ok(r.mtimes.length > 0 && r.mtimes.every((t) => t <= 1000), r.mtimes.join());
      const next = await run(executor, {
        script: "stat -c %Y /epoch.txt",
      }, { lowers: [...f.lowers, f.snapshots.path(r.chainId)], parentChainId: r.chainId });
      assert.equal(next.stdout.trim(), "1000");
    });

    test("aborting kills the command, rejects with the reason and leaves no mount or scratch", async () => {
      const f = await setup();
      const controller = new AbortController();
      await assert.rejects(
        run(executor, {
          script: "echo ready; sleep 600",
          signal: controller.signal,
          onStdout: (text) => {
            if (text.includes("ready")) controller.abort(new Error("stop it"));
          },
        }),
        /stop it/,
      );
      assert.deepEqual(await readdir(join(f.dir, "work")), []);
      assert.ok(!(await readFile("/proc/self/mountinfo", "utf8")).includes(f.dir));
    });
  });
}
