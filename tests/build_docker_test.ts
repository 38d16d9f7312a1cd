/**
 * Differential tests: the same Dockerfile and context built by Docker BuildKit and by
 * stratum, on the same busybox base; the stratum image is loaded into docker, then both
 * images' configs (and history) and `docker export` file trees must be equal.
 */
import assert from "node:assert/strict";
import { execFile, execFileSync, spawn } from "node:child_process";
import { promisify } from "node:util";
import { existsSync } from "node:fs";
import {
  chmod,
  link,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { sha256 } from "../digest/mod.ts";
import { build } from "../builder/mod.ts";
import { type ImageStore, saveDockerArchive } from "../storage/mod.ts";
import { openLayer } from "../unionfs/mod.ts";
import { buildkitBase } from "./_docker.ts";
import { missingPeers } from "./_peers.ts";

// Debian's 20.10 client has the classic DOCKER_BUILDKIT=1 switch; a newer client on PATH
// without buildx would refuse it.
const DOCKER = existsSync("/usr/bin/docker") ? "/usr/bin/docker" : "docker";
const PREFIX = `stratum-bkdiff-${process.pid}`;
const BASE = `${PREFIX}/base:1`;

function docker(args: string[], input?: Uint8Array): string {
  return execFileSync(DOCKER, args, {
    encoding: "utf8",
    input,
    env: { ...process.env, DOCKER_BUILDKIT: "1" },
    stdio: ["pipe", "pipe", "pipe"],
    maxBuffer: 256 << 20,
  }).trim();
}

type Files = Record<string, string | { link: string } | { body: string; mode: number }>;

async function writeContext(dir: string, files: Files): Promise<void> {
  for (const [name, spec] of Object.entries(files)) {
    const p = join(dir, name);
    await mkdir(dirname(p), { recursive: true });
    if (typeof spec === "string") await writeFile(p, spec);
    else if ("link" in spec) await symlink(spec.link, p);
    else {
      await writeFile(p, spec.body);
      await chmod(p, spec.mode);
    }
  }
}

/** What a case needs besides its Dockerfile and files. */
interface CaseOptions {
  /** `--target`. */
  target?: string;
  /** Adds what `Files` cannot describe (archives, hardlinks) to the context. */
  setup?: (ctx: string) => Promise<void>;
  /**
   * Empty directories Docker 20.10 leaves where RUN made a mount point. Its BuildKit (0.8)
   * removed only file stubs; BuildKit 0.11 removes directory stubs and the parents made for
   * them too, calling the old behaviour a bug (moby/buildkit#3307 and #3314, moby/moby#43050).
   * stratum does what current BuildKit does, so these must be in Docker's tree as empty
   * directories and absent from stratum's; the rest of the trees must be equal.
   */
  dockerStubs?: string[];
  /**
   * Where Docker 20.10's BuildKit (0.8) and current BuildKit differ, stratum follows current
   * BuildKit: this turns Docker's exported tree into what current BuildKit gives (each use
   * says which source and test of moby/buildkit it follows), and stratum's must equal that.
   */
  currentBuildKit?: (tree: Record<string, string>) => void;
}

/**
 * Writes a tar built by Python's tarfile from `entries` (PAX format): what `tar` cannot
 * make from a directory (a symlink to an absolute path that does not exist here, devices,
 * xattrs in SCHILY records).
 */
async function writeTar(path: string, entries: TarSpec[]): Promise<void> {
  const script = `
import io, json, sys, tarfile
out, entries = sys.argv[1], json.loads(sys.argv[2])
kinds = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
         "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE, "char": tarfile.CHRTYPE,
         "block": tarfile.BLKTYPE}
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    for e in entries:
        i = tarfile.TarInfo(e["name"])
        i.type = kinds[e["type"]]
        i.mode = int(e.get("mode", "644"), 8)
        i.uid, i.gid = e.get("uid", 0), e.get("gid", 0)
        i.mtime = 1000000000
        i.linkname = e.get("link", "")
        i.devmajor, i.devminor = e.get("dev", [0, 0])
        xattrs = {k: bytes.fromhex(v).decode("utf-8", "surrogateescape")
                  for k, v in e.get("xattrs", {}).items()}
        i.pax_headers = {"SCHILY.xattr." + k: v for k, v in xattrs.items()}
        body = e.get("body", "").encode()
        i.size = len(body) if e["type"] == "file" else 0
        t.addfile(i, io.BytesIO(body) if e["type"] == "file" else None)
`;
  await promisify(execFile)("python3", ["-c", script, path, JSON.stringify(entries)]);
}

/** One entry of {@linkcode writeTar}. */
interface TarSpec {
  name: string;
  type: "file" | "dir" | "symlink" | "hardlink" | "fifo" | "char" | "block";
  mode?: string;
  uid?: number;
  gid?: number;
  body?: string;
  link?: string;
  dev?: [number, number];
  /** Extended attributes, values in hex. */
  xattrs?: Record<string, string>;
}

/** `security.capability` granting cap_net_bind_service (VFS_CAP_REVISION_2, effective). */
const CAP_NET_BIND = "0100000200040000000000000000000000000000";

/** An archive with what ADD must keep: fifos, devices, capabilities and user xattrs. */
const SPECIALS: TarSpec[] = [
  { name: "x/", type: "dir", mode: "755" },
  { name: "x/fifo", type: "fifo", mode: "640", uid: 3, gid: 4 },
  { name: "x/chr", type: "char", mode: "666", dev: [1, 3] },
  { name: "x/blk", type: "block", mode: "660", dev: [7, 0] },
  {
    name: "x/cap",
    type: "file",
    mode: "755",
    body: "cap",
    xattrs: { "security.capability": CAP_NET_BIND },
  },
  { name: "x/note", type: "file", body: "note", xattrs: { "user.note": "68656c6c6f" } },
];

type Case = [name: string, dockerfile: string, files: Files, options?: CaseOptions];

/** One Dockerfile of the suite; `FROM base` is replaced by the shared base image. */
const CASES: Case[] = [
  [
    "metadata",
    `FROM base
ENV A=1 B="two words"
ENV C $A-x
ARG X=hello
ARG Y
LABEL org.a=1 "b c"=d
EXPOSE 80 443/udp 8080/tcp
VOLUME /data ["/v2"]
USER nobody:nogroup
WORKDIR /app
WORKDIR sub
SHELL ["/bin/sh", "-ec"]
STOPSIGNAL SIGKILL
HEALTHCHECK --interval=5s --retries=3 CMD echo ok
ONBUILD RUN echo onbuild
ENTRYPOINT ["/bin/echo"]
CMD echo $X hi
MAINTAINER me
`,
    {},
  ],
  [
    "cmd reset by entrypoint",
    `FROM base AS b
CMD ["a"]
ENTRYPOINT echo hi
FROM b
ENTRYPOINT ["/x"]
HEALTHCHECK NONE
USER 1000
ENV LEG legacy value  here
`,
    {},
  ],
  [
    "arg and env expansion",
    `FROM base
ARG V=1
ENV P=/opt/\${V} Q=\${UNSET:-dflt}
WORKDIR $P
LABEL v=$V p=$P q=$Q
COPY f.txt \${P}/
`,
    { "f.txt": "f" },
  ],
  ["escape directive", "# escape=`\nFROM base\nENV A=x `\n  B=c:\\dir\nCOPY f.txt `\n  /g.txt\n", {
    "f.txt": "f",
  }],
  [
    "copy rules",
    `FROM base
COPY dir /d1
COPY dir /d2/
COPY f*.txt /multi/
COPY dir/link /lnk
COPY --chmod=600 f1.txt /c1
WORKDIR rel
COPY f1.txt .
COPY f2.txt new/
COPY f1.txt /etc
`,
    {
      "dir/a.txt": "a",
      "dir/sub/b.txt": "b",
      "dir/link": { link: "a.txt" },
      "f1.txt": "1",
      "f2.txt": "2",
    },
  ],
  [
    "chown by name and id",
    `FROM base
COPY --chown=app:staff f1.txt /o1
COPY --chown=app f1.txt /o2
COPY --chown=1:2 f1.txt /h2/
USER app
WORKDIR /home/app/work
`,
    { "f1.txt": "1" },
  ],
  ["setuid bits", "FROM base\nCOPY s.bin /usr/local/bin/s\n", {
    "s.bin": { body: "x", mode: 0o4755 },
  }],
  [
    "multi-stage with --from",
    `FROM base AS s
COPY --chown=app f1.txt /own/a
FROM base AS unused
COPY nothing /x
FROM base
COPY --from=s /own /o2
COPY --from=s /own/a /o3/
COPY --from=0 /bin/busybox /bb
`,
    { "f1.txt": "1" },
  ],
  ["dockerignore", "FROM base\nCOPY . /ctx\n", {
    ".dockerignore": "*.key\n!keep.key\nsub/skip\n",
    "a.txt": "a",
    "x.key": "k",
    "keep.key": "k2",
    "sub/skip": "s",
    "sub/ok": "o",
  }],
  [
    "directory over file and file over directory",
    `FROM base
COPY d1 /x/
COPY f1.txt /y
COPY d1 /y2/
`,
    { "d1/in.txt": "in", "f1.txt": "1" },
  ],
  [
    "add archives",
    `FROM base
ADD arch.tgz /x1/
ADD arch.tar /x2
ADD fake.tar.gz /x3/
COPY arch.tgz /x4/
`,
    {},
  ],
  [
    "onbuild child",
    `FROM base
LABEL after=1
`,
    {},
  ],
  [
    "expose ranges, labels with spaces, json volumes",
    `FROM base
EXPOSE 8000-8002/udp 9090
LABEL "com.example.desc"="a b  c" single=one
VOLUME ["/a", "/b c"]
`,
    {},
  ],
  [
    "existing workdir, root workdir, numeric user",
    `FROM base
WORKDIR /bin
WORKDIR /
USER 1000:50
WORKDIR /owned/deep
`,
    {},
  ],
  [
    "healthcheck exec form with durations",
    `FROM base
HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s --retries=10 CMD ["/bin/true", "x"]
STOPSIGNAL 9
`,
    {},
  ],
  [
    "shell form with a custom SHELL",
    `FROM base
SHELL ["/bin/busybox", "sh", "-xc"]
ENTRYPOINT exec app
CMD run
`,
    {},
  ],
  [
    "meta ARG in FROM and redeclared",
    `ARG IMG=BASEIMAGE
FROM $IMG
ARG IMG
LABEL img=$IMG
`,
    {},
  ],
  [
    "copy --from an image by name",
    `FROM base
COPY --from=BASEIMAGE /etc/passwd /etc/group /copied/
`,
    {},
  ],
  ["hardlinks in the context", "FROM base\nCOPY dir /d\n", { "dir/a": "same" }],
  [
    "add archive with --chown",
    "FROM base\nADD --chown=app:staff arch.tgz /x/\n",
    {},
    {
      // Current BuildKit unpacks with --chown as the owner of every entry (moby/buildkit
      // solver/llbsolver/file/unpack.go passes it as Untar's ChownOpts; its test
      // testDockerfileAddChownArchive expects out/ and out/foo 100:200). Docker 20.10's
      // BuildKit kept the archive's owners.
      currentBuildKit(tree) {
        for (const p of ["x", "x/in.txt"]) tree[p] = tree[p].replace(" 0:0 ", " 1000:50 ");
      },
    },
  ],
  [
    "ONBUILD triggers of an earlier stage run in the stage built from it",
    `FROM base AS parent
ONBUILD COPY f1.txt /from-trigger
ONBUILD ENV T=triggered
LABEL parent=1
FROM parent
LABEL child=$T
`,
    { "f1.txt": "1" },
  ],
  [
    "HEALTHCHECK, STOPSIGNAL, SHELL, VOLUME and EXPOSE together",
    `FROM base
SHELL ["/bin/sh", "-c"]
HEALTHCHECK --timeout=3s CMD wget -q -O- localhost || exit 1
STOPSIGNAL SIGTERM
VOLUME /var/lib/x /var/log
EXPOSE 53/udp 53/tcp 80
SHELL ["/bin/busybox", "ash", "-c"]
CMD serve --port 80
`,
    {},
  ],
  [
    "WORKDIR relative chains",
    `FROM base
WORKDIR a
WORKDIR b/c
WORKDIR ../d
ENV D=e
WORKDIR $D
COPY f1.txt .
WORKDIR /abs/./x/..
COPY f1.txt ./
`,
    { "f1.txt": "1" },
  ],
  [
    "ENV in the legacy space form, ARG defaults from ENV",
    `FROM base
ENV GREETING hello   world
ENV PATH $PATH:/opt/bin
ARG A=\${GREETING}
ENV B=$A C="\${A:+set}" D=\${NOPE:-none}
ENV E \${D}-x
LABEL g="$GREETING" path=$PATH
`,
    {},
  ],
  [
    "ADD of gzip, bzip2 and xz tars, and of a gzip file that is not a tar",
    `FROM base
ADD arch.tar.gz /gz/
ADD arch.tar.bz2 /bz2/
ADD arch.tar.xz /xz/
ADD note.txt.gz /notes/
`,
    {},
    {
      async setup(ctx) {
        await mkdir(join(ctx, "t", "sub"), { recursive: true });
        await writeFile(join(ctx, "t", "sub", "in.txt"), "in\n");
        await chmod(join(ctx, "t", "sub", "in.txt"), 0o640);
        for (const [flag, ext] of [["-z", "gz"], ["-j", "bz2"], ["-J", "xz"]]) {
          execFileSync("tar", [
            flag,
            "-cf",
            join(ctx, `arch.tar.${ext}`),
            "-C",
            join(ctx, "t"),
            ".",
          ]);
        }
        await writeFile(join(ctx, "note.txt"), "just a note\n");
        execFileSync("gzip", [join(ctx, "note.txt")]);
        await rm(join(ctx, "t"), { recursive: true });
      },
    },
  ],
  [
    "--target builds a middle stage",
    `FROM base AS build
COPY f1.txt /built
FROM build AS test
LABEL stage=test
COPY f2.txt /tested
FROM base
COPY --from=build /built /final
`,
    { "f1.txt": "1", "f2.txt": "2" },
    { target: "test" },
  ],
  [
    "stages FROM an image by name and COPY --from by image and stage index",
    `FROM BASEIMAGE AS a
ENV IN_A=1
FROM a AS b
COPY --from=BASEIMAGE /etc/group /g
FROM b
COPY --from=1 /g /g2
COPY --from=a /etc/passwd /p
`,
    {},
  ],
  // issue 13: arguments, sources and .dockerignore as BuildKit has them (20.10 agrees here).
  [
    "issue 13: an empty COPY destination is the WORKDIR",
    'FROM base\nWORKDIR /work\nENV empty=""\nCOPY testfile $empty\n',
    { testfile: "contents0" },
  ],
  [
    "issue 13: a variable with a blank in it stays one COPY source",
    'FROM base\nENV f="a b"\nCOPY $f /dst\n',
    { "a b": "spaced" },
  ],
  [
    "issue 13: wildcard sources that match nothing are skipped",
    "FROM base AS s\nFROM base\nCOPY foo nomatch* missing?/* /e/\nCOPY nomatch* /d/\nCOPY --from=s /nomatch* /f/\n",
    { foo: "foo" },
  ],
  [
    "issue 13: .dockerignore keeps the Dockerfile and itself out of COPY .",
    "FROM base\nCOPY . /ctx/\n",
    { ".dockerignore": "Dockerfile\n.dockerignore\n", "a.txt": "a" },
  ],
  [
    "issue 13: .dockerignore of * keeps everything out but its exceptions",
    "FROM base\nCOPY . /ctx/\n",
    { ".dockerignore": "*\n!keep\n", keep: "k", "other.txt": "o" },
  ],
  [
    "issue 13: a stage built FROM a stage inherits its ARG values",
    `FROM base AS parent
ARG NAME=parent
FROM parent
LABEL before=$NAME
ARG NAME="$NAME-dev"
LABEL after=$NAME
`,
    {},
  ],
];

/** Cases with RUN: each runs in a real container (runc, or unshare+chroot). */
const RUN_CASES: Case[] = [
  ["whiteouts by RUN rm", "FROM base\nCOPY d /d\nRUN rm /d/a && rm -r /d/sub\n", {
    "d/a": "a",
    "d/b": "b",
    "d/sub/c": "c",
  }],
  [
    "directory and file replacement",
    "FROM base\nCOPY d /d\nRUN rm -r /d/sub && echo x > /d/sub && rm /d/a && mkdir /d/a\n",
    {
      "d/a": "a",
      "d/sub/c": "c",
    },
  ],
  [
    "hardlinks, fifos and setuid bits",
    "FROM base\nRUN echo x > /f && ln /f /g && mkfifo /p && chmod 4755 /f\n",
    {},
  ],
  [
    "USER and WORKDIR ownership",
    "FROM base\nUSER app\nWORKDIR /w\nRUN touch mine && id -u > uid\n",
    {},
  ],
  [
    "ARG and ENV reach RUN, ARG not the config",
    "FROM base\nARG X=hello\nENV E=env\nRUN echo $X $E > /out\n",
    {},
  ],
  ["RUN through SHELL", 'FROM base\nSHELL ["/bin/sh", "-ec"]\nRUN echo $0 > /shell\n', {}],
  [
    "COPY --chown by names a RUN line added to /etc/passwd and /etc/group",
    `FROM base
RUN echo "builder:x:1234:4321::/home/builder:/bin/sh" >> /etc/passwd && echo "crew:x:4321:" >> /etc/group
COPY --chown=builder:crew f1.txt /home/builder/f
COPY --chown=builder f1.txt /owned-by-builder
`,
    { "f1.txt": "1" },
  ],
  [
    "RUN --mount=type=cache keeps the cache out of the layer",
    `FROM base
RUN --mount=type=cache,target=/cache,id=stratum-diff echo hi > /cache/x && ls /cache > /seen
RUN --mount=type=tmpfs,target=/scratch touch /scratch/t && ls /scratch > /tmpfs-seen
`,
    {},
    { dockerStubs: ["cache", "scratch"] },
  ],
  [
    "RUN --mount=type=bind from the context and from a stage",
    `FROM base AS s
COPY f1.txt /s/one
FROM base
RUN --mount=type=bind,source=f1.txt,target=/m/f cat /m/f > /out
RUN --mount=type=bind,from=s,source=/s,target=/mnt cp /mnt/one /two
RUN --mount=type=bind,target=/ctx,rw echo scribble > /ctx/f1.txt && cat /ctx/f1.txt > /rw
`,
    { "f1.txt": "from context\n" },
    { dockerStubs: ["ctx", "m", "mnt"] },
  ],
  [
    "RUN over a copied directory with hardlinks, setuid and a read-only directory",
    `FROM base
COPY d /d
RUN stat -c '%n %h %a %u:%g' /d/a /d/b /d/s /d/ro /d/ro/x > /stat && cat /d/b /d/ro/x > /cat && touch /d/a
`,
    { "d/a": "same", "d/s": { body: "s", mode: 0o4755 }, "d/ro/x": "x" },
    {
      async setup(ctx) {
        await link(join(ctx, "d", "a"), join(ctx, "d", "b"));
        await chmod(join(ctx, "d", "ro"), 0o555);
      },
    },
  ],
  [
    "COPY, ADD and WORKDIR through dangling, absolute and relative symlinks",
    `FROM base
RUN mkdir -p /ex /real && chown 5:6 /ex && ln -s /abs/target /abslink && ln -s nowhere /dangle && ln -s /ex /exlink && ln -s /real /work && ln -s ../../ex /rel && ln -s /gone/deep /wdangle
COPY f1.txt /abslink/x
COPY f1.txt /dangle/y
COPY f1.txt /exlink/z
COPY f1.txt /rel/r
COPY f1.txt /dangle
COPY dir /exlink/sub/
COPY dir /abslink/
ADD plain.tar /exlink/
WORKDIR /work
RUN pwd > /pwd
WORKDIR /wdangle/w
RUN pwd > /pwd2 && touch here
`,
    { "f1.txt": "1", "dir/a": "a", "dir/s/b": "b" },
    {
      async setup(ctx) {
        await writeTar(join(ctx, "plain.tar"), [{ name: "t/in", type: "file", body: "in" }]);
      },
    },
  ],
  [
    "ADD, COPY and WORKDIR through symlinks an earlier ADD of an archive made",
    `FROM base
ADD rootfs.tar /
ADD payload.tar /
COPY f1.txt /var/run/copied
ADD rootfs.tar /sub/
ADD payload.tar /sub/
WORKDIR /var/run/w
RUN pwd > /pwd
`,
    { "f1.txt": "1" },
    {
      async setup(ctx) {
        // moby/buildkit testDockerfileAddArchiveThroughAbsoluteSymlink, plus the same
        // archives unpacked below /sub, where the chroot makes /run mean /sub/run.
        await writeTar(join(ctx, "rootfs.tar"), [
          { name: "run/", type: "dir", mode: "755" },
          { name: "var/", type: "dir", mode: "755" },
          { name: "var/run", type: "symlink", link: "/run", mode: "777" },
        ]);
        await writeTar(join(ctx, "payload.tar"), [
          { name: "var/run/act/", type: "dir", mode: "755" },
          { name: "var/run/act/.git/", type: "dir", mode: "755" },
          { name: "var/run/act/.git/HEAD", type: "file", body: "ref: refs/heads/main\n" },
          { name: "var/run/act/.git/HEAD.link", type: "hardlink", link: "var/run/act/.git/HEAD" },
        ]);
      },
    },
  ],
  [
    "ADD of an archive with a hardlink to a file of the image below",
    "FROM base\nADD linker.tar /\n",
    {},
    {
      async setup(ctx) {
        await writeTar(join(ctx, "linker.tar"), [
          { name: "etc/pw-link", type: "hardlink", link: "etc/passwd" },
          { name: "etc/own", type: "file", body: "own" },
          { name: "etc/own-link", type: "hardlink", link: "etc/own" },
        ]);
      },
    },
  ],
  [
    "directories COPY makes are 0755 and --chown leaves existing directories alone",
    `FROM base
RUN mkdir -p /existingdir/sub && chown 500:600 /existingdir && chown 501:601 /existingdir/sub && chmod 700 /existingdir/sub
COPY d700 /newdir
COPY --chown=7:8 d700 /existingdir
COPY --chown=7:8 d700/. /existingdir/sub/
COPY --chown=7:8 f1.txt /newparent/deep/f
COPY --chown=7:8 d700 /newchowned/
ADD --chown=7:8 plain.tar /addnew/deeper/
`,
    { "f1.txt": "1", "d700/in/f": "f" },
    {
      async setup(ctx) {
        await chmod(join(ctx, "d700"), 0o700);
        await chmod(join(ctx, "d700", "in"), 0o750);
        await writeTar(join(ctx, "plain.tar"), [{ name: "t/in", type: "file", body: "in" }]);
      },
      // Current BuildKit gives --chown to what ADD unpacks (see "add archive with --chown").
      currentBuildKit(tree) {
        for (const p of ["addnew/deeper/t/in"]) tree[p] = tree[p].replace(" 0:0 ", " 7:8 ");
      },
    },
  ],
  [
    "COPY --chmod gives its bits to the directories it makes (current BuildKit)",
    `FROM base
COPY --chmod=777 f1.txt /parent/foo
COPY --chmod=770 f1.txt /parent/sub/foo
COPY --chmod=750 d /newdir2
`,
    { "f1.txt": "1", "d/in": "in" },
    {
      // moby/buildkit testCopyChmod expects /parent 0777 and /parent/sub 0770: fsutil's
      // Copy makes missing destination directories with the copy's mode (copy.go,
      // MkdirAll(…, perm = ci.Mode)), the made top directory of a directory copy too.
      // Docker 20.10's BuildKit made them 0755.
      currentBuildKit(tree) {
        tree["parent"] = tree["parent"].replace("directory 755", "directory 777");
        tree["parent/sub"] = tree["parent/sub"].replace("directory 755", "directory 770");
        tree["newdir2"] = tree["newdir2"].replace("directory 755", "directory 750");
      },
    },
  ],
  [
    "ADD of a local archive keeps fifos, devices and security.capability",
    `FROM base AS st
ADD specials.tar /s/
FROM base
ADD specials.tar /a/
COPY --from=st /s/x /copied
`,
    {},
    {
      async setup(ctx) {
        await writeTar(join(ctx, "specials.tar"), SPECIALS);
      },
      // Current BuildKit's COPY makes fifos and devices anew (fsutil copyDevice, since
      // tonistiigi/fsutil 331e532 "copy: fix copying devices, fifos"); Docker 20.10's
      // BuildKit turned devices into empty files and dropped fifos. They come out as ADD
      // unpacked them into /a/x.
      currentBuildKit(tree) {
        for (const name of ["fifo", "chr", "blk"]) tree[`copied/${name}`] = tree[`a/x/${name}`];
      },
    },
  ],
  [
    "COPY --from a stage keeps the fifos and devices a RUN made",
    `FROM base AS st
RUN mkdir /d && mknod /d/c c 1 3 && mknod /d/b b 7 0 && mkfifo /d/p && chmod 600 /d/c
FROM base
COPY --from=st /d /d
COPY --from=st /d/c /single
`,
    {},
    {
      // As in the case above: current BuildKit keeps the devices and the fifo (mkfifo
      // under umask 022 gives 644), where Docker 20.10's made empty files of the devices.
      currentBuildKit(tree) {
        const device = (row: string, type: string, dev: string) =>
          row.replace(/^file (\d+) (\S+) 0 sha256:\S+$/, `${type} $1 $2 0   ${dev}`);
        tree["d/c"] = device(tree["d/c"], "char", "1,3");
        tree["single"] = device(tree["single"], "char", "1,3");
        tree["d/b"] = device(tree["d/b"], "block", "7,0");
        tree["d/p"] = "fifo 644 0:0 0";
      },
    },
  ],
  [
    "RUN --mount=type=cache,from=STAGE,source=DIR starts from the stage's directory",
    `FROM base AS s
COPY seed /seed
RUN chown -R 3:4 /seed && chmod 750 /seed
FROM base
RUN --mount=type=cache,from=s,source=/seed,target=/c,id=stratum-diff-seeded stat -c '%n %a %u:%g' /c /c/a > /seen && cat /c/a >> /seen
`,
    { "seed/a": "seeded\n" },
    { dockerStubs: ["c"] },
  ],
  [
    "COPY --from and bind mounts follow symlinks inside the stage or context",
    `FROM base AS s
RUN mkdir /s && ln -s /etc /s/etclink && ln -s ../etc /s/rel
FROM base
COPY --from=s /s/etclink/passwd /p1
COPY --from=s /s/rel/group /p2
RUN --mount=type=bind,from=s,source=/s/etclink,target=/m cat /m/passwd > /p3
RUN --mount=type=bind,source=inlink,target=/m cat /m/f > /p4
RUN --mount=type=bind,source=dir/../f1.txt,target=/m/f cat /m/f > /p5
`,
    { "dir/f": "in dir\n", "inlink": { link: "dir" }, "f1.txt": "1\n" },
    { dockerStubs: ["m"] },
  ],
  [
    "a bind mount of the context shows what .dockerignore lets through",
    `FROM base
RUN --mount=type=bind,target=/ctx ls -a /ctx /ctx/sub /ctx/keep > /out
RUN --mount=type=bind,source=keep,target=/k ls -a /k > /out2
RUN --mount=type=bind,source=sub,target=/s,rw touch /s/new && ls -a /s > /out3
`,
    {
      ".dockerignore": "secret.env\nsub/x\n",
      "secret.env": "s",
      "keep.txt": "k",
      "sub/x": "x",
      "sub/y": "y",
      "keep/z": "z",
    },
    { dockerStubs: ["ctx", "k", "s"] },
  ],
  [
    "RUN replaces a symlink with a directory and removes a base file",
    "FROM base\nRUN rm /bin/ls && rm /etc/group && mkdir -p /etc/group/d && ln -s /etc /e\n",
    {},
  ],
  // issue 13: ARG values in RUN as BuildKit sets them (20.10 agrees here).
  [
    "issue 13: an ARG after an ENV of the same name wins in RUN, a later ENV wins back",
    `FROM base
ENV E=env
ARG E=arg
RUN echo "[$E]" > /out
ENV E=again
RUN echo "[$E]" >> /out
`,
    {},
  ],
];

async function exportTree(image: string): Promise<Record<string, string>> {
  const id = docker(["create", image, "/bin/true"]);
  try {
    const child = spawn(DOCKER, ["export", id], { stdio: ["ignore", "pipe", "inherit"] });
    const stream = Readable.toWeb(child.stdout) as ReadableStream<Uint8Array>;
    const rows: Record<string, string> = {};
    for await (
      const { header, body } of openLayer({
        digest: image,
        open: () => Promise.resolve(stream),
      })
    ) {
      const bytes = new Uint8Array(await new Response(body).arrayBuffer());
      const name = header.name.replace(/\/$/, "");
      // docker export adds the container's own files; they are the same for both.
      if (/^(\.dockerenv|etc\/(hosts|hostname|resolv\.conf|mtab)|dev|proc|sys)(\/|$)/.test(name)) {
        continue;
      }
      rows[name] = [
        header.type,
        header.mode.toString(8),
        `${header.uid}:${header.gid}`,
        header.size,
        header.type === "file" ? await sha256(bytes) : "",
        header.linkname,
        header.type === "char" || header.type === "block"
          ? `${header.devmajor},${header.devminor}`
          : "",
        Object.entries(header.xattrs).sort().map(([k, v]) =>
          `${k}=${[...v].map((b) => b.toString(16).padStart(2, "0")).join("")}`
        ).join(","),
      ].join(" ").trimEnd();
    }
    return rows;
  } finally {
    docker(["rm", id]);
  }
}

function configOf(image: string): Record<string, unknown> {
  const c = JSON.parse(docker(["inspect", "--format", "{{json .Config}}", image]));
  const pick = [
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "StopSignal",
    "Healthcheck",
    "Shell",
    "OnBuild",
    "ArgsEscaped",
  ];
  return Object.fromEntries(pick.map((k) => [k, c[k] ?? null]));
}

/**
 * The image's history as its config records it: `created_by` and whether the entry has a
 * layer. Read from `docker save` rather than `docker history`, whose sizes come from how the
 * daemon stored the layer (a loaded layer of only symlinks counts their sizes, a built one
 * does not) and so differ for equal layers.
 */
async function historyOf(image: string): Promise<string[]> {
  const child = spawn(DOCKER, ["save", image], { stdio: ["ignore", "pipe", "inherit"] });
  const stream = Readable.toWeb(child.stdout) as ReadableStream<Uint8Array>;
  const files = new Map<string, string>();
  for await (
    const { header, body } of openLayer({ digest: image, open: () => Promise.resolve(stream) })
  ) {
    const json = header.name === "manifest.json" || /^[0-9a-f]{64}\.json$/.test(header.name);
    if (json) files.set(header.name, await new Response(body).text());
  }
  const [{ Config }] = JSON.parse(files.get("manifest.json")!);
  const config = JSON.parse(files.get(Config)!);
  return (config.history as { created_by?: string; empty_layer?: boolean }[]).map((h) =>
    `${h.created_by}|${h.empty_layer ? "empty" : "layer"}`
  );
}

describe("stratum build matches Docker BuildKit", { skip: missingPeers("dockerd") }, () => {
  let root: string;
  let store: ImageStore;
  let identical = 0;
  let casesRun = 0;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "stratum-bkdiff-"));
    store = await buildkitBase(root, BASE, {
      files: {
        passwd:
          "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n",
        group: "root:x:0:\nnogroup:x:65534:\napp:x:1000:\nstaff:x:50:\n",
      },
      more: "COPY passwd group /etc/\nONBUILD LABEL trig=1\nONBUILD COPY . /onb/\n",
    });
  });

  after(async () => {
    console.log(`stratum vs BuildKit: ${identical}/${casesRun} Dockerfiles identical`);
    try {
      const images = docker([
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
        "--filter",
        `reference=${PREFIX}/*`,
      ]);
      for (const image of images.split("\n").filter(Boolean)) {
        docker(["rmi", "-f", image]);
      }
    } catch { /* best effort */ }
    await rm(root, { recursive: true, force: true });
  });

  const cases = [...CASES, ...RUN_CASES];

  test("docker runs a stratum-built image and it prints what its CMD says", async () => {
    const ctx = join(root, "run-ctx");
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, "msg"), "hello from stratum\n");
    const tag = `${PREFIX}/runs:1`;
    await build({
      store,
      storeRoot: join(root, "store"),
      contextDir: ctx,
      dockerfile: `FROM ${BASE}\nCOPY msg /msg\nCMD ["cat", "/msg"]\n`,
      tags: [tag],
    });
    const archive = new Uint8Array(
      await new Response(saveDockerArchive(store, [tag])).arrayBuffer(),
    );
    docker(["load", "-q"], archive);
    assert.equal(docker(["run", "--rm", "--network=none", tag]), "hello from stratum");
  });

  for (const [i, [name, dockerfile, files, caseOptions = {}]] of cases.entries()) {
    // STRATUM_BKDIFF_ONLY=<regexp> runs only the cases whose names match, while working on one.
    const only = process.env.STRATUM_BKDIFF_ONLY;
    if (only && !new RegExp(only).test(name)) continue;
    test(name, async () => {
      casesRun++;
      const ctx = join(root, `ctx${i}`);
      await mkdir(ctx, { recursive: true });
      await writeContext(ctx, files);
      await caseOptions.setup?.(ctx);
      if (name === "hardlinks in the context") {
        await link(join(ctx, "dir", "a"), join(ctx, "dir", "b"));
      }
      if (name.startsWith("add arch")) {
        await mkdir(join(ctx, "t"));
        await writeFile(join(ctx, "t", "in.txt"), "in\n");
        execFileSync("tar", ["-czf", join(ctx, "arch.tgz"), "-C", join(ctx, "t"), "."]);
        execFileSync("tar", ["-cf", join(ctx, "arch.tar"), "-C", join(ctx, "t"), "."]);
        await writeFile(join(ctx, "fake.tar.gz"), "garbage");
        await rm(join(ctx, "t"), { recursive: true });
      }
      const text = dockerfile.replace(/^FROM base\b/gm, `FROM ${BASE}`).replaceAll(
        "BASEIMAGE",
        BASE,
      );
      await writeFile(join(ctx, "Dockerfile"), text);
      const theirs = `${PREFIX}/docker:${i}`;
      const ours = `${PREFIX}/stratum:${i}`;
      const target = caseOptions.target;
      docker([
        "build",
        "--network=host",
        "-q",
        ...(target ? ["--target", target] : []),
        "-t",
        theirs,
        ctx,
      ]);
      await build({ store, storeRoot: join(root, "store"), contextDir: ctx, tags: [ours], target });
      const archive = new Uint8Array(
        await new Response(saveDockerArchive(store, [ours])).arrayBuffer(),
      );
      docker(["load", "-q"], archive);
      assert.deepEqual(configOf(ours), configOf(theirs), "configs");
      assert.deepEqual(await historyOf(ours), await historyOf(theirs), "history");
      const theirTree = await exportTree(theirs);
      const ourTree = await exportTree(ours);
      for (const stub of caseOptions.dockerStubs ?? []) {
        assert.equal(theirTree[stub], "directory 755 0:0 0", `docker's stub ${stub}`);
        assert.ok(!Object.keys(theirTree).some((p) => p.startsWith(`${stub}/`)), stub);
        assert.equal(ourTree[stub], undefined, `stratum removes the stub ${stub}`);
        delete theirTree[stub];
      }
      caseOptions.currentBuildKit?.(theirTree);
      assert.deepEqual(ourTree, theirTree, "exported trees");
      identical++;
    });
  }
});

/**
 * Hostile Dockerfiles: mount and copy sources that lead out of the context or a stage's
 * root, by `..`, by a context symlink, by a stage's symlink to a host path. BuildKit
 * refuses each (the path is resolved inside the root, where it does not exist); stratum
 * must refuse too, print nothing of the host file, and leave it untouched.
 */
describe("sources outside the context or a stage's root", { skip: missingPeers("dockerd") }, () => {
  let root: string;
  let store: ImageStore;
  let canary: string;
  const marker = `HOST-ONLY-${process.pid}`;
  const base = `${PREFIX}/hostile-base:1`;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "stratum-bkhostile-"));
    canary = join(root, "canary");
    await mkdir(canary);
    await writeFile(join(canary, "secret"), `${marker}\n`);
    store = await buildkitBase(root, base);
  });

  after(async () => {
    try {
      docker(["rmi", "-f", base]);
    } catch { /* best effort */ }
    await rm(root, { recursive: true, force: true });
  });

  /** The canary's names, modes and bytes: what must not change. */
  async function canaryState(): Promise<string> {
    const rows = [];
    for (const name of (await readdir(canary)).sort()) {
      const st = await lstat(join(canary, name));
      rows.push(`${name} ${st.mode.toString(8)} ${st.size} ${await readFile(join(canary, name))}`);
    }
    return rows.join("\n");
  }

  const up = "../".repeat(30);
  const hostile: [name: string, lines: string][] = [
    ["a bind mount of ../", "RUN --mount=type=bind,source=../canary,target=/m cat /m/secret"],
    [
      "a bind mount of a context symlink to a host directory",
      "RUN --mount=type=bind,source=outlink,target=/m cat /m/secret",
    ],
    [
      "a writable bind mount of a context symlink to a host directory",
      "RUN --mount=type=bind,source=outlink,target=/m,rw sh -c 'echo pwned > /m/secret; touch /m/new'",
    ],
    [
      "a bind mount from an image of ../../..",
      `RUN --mount=type=bind,from=BASE,source=${up}CANARY,target=/m cat /m/secret`,
    ],
    [
      "a bind mount from a stage of its symlink to a host directory",
      "RUN --mount=type=bind,from=s,source=/s/link,target=/m cat /m/secret",
    ],
    [
      "a cache mount seeded from a stage's symlink to a host directory",
      "RUN --mount=type=cache,from=s,source=/s/link,target=/m cat /m/secret",
    ],
    ["COPY --from an image of ../../..", `COPY --from=BASE ${up}CANARY/secret /x`],
    [
      "a bind mount of a file .dockerignore leaves out",
      "RUN --mount=type=bind,source=ignored.txt,target=/m cat /m",
    ],
    [
      "COPY --from a stage through its symlink to a host directory",
      "COPY --from=s /s/link/secret /x",
    ],
    ["COPY --from a stage of its symlink to a host directory", "COPY --from=s /s/link /x"],
  ];

  for (const [i, [name, line]] of hostile.entries()) {
    test(`${name} is refused and the host directory is untouched`, async () => {
      const ctx = join(root, `ctx${i}`);
      await mkdir(ctx);
      await symlink(canary, join(ctx, "outlink"));
      await writeFile(join(ctx, ".dockerignore"), "ignored.txt\n");
      await writeFile(join(ctx, "ignored.txt"), `${marker}\n`);
      const text = [
        `FROM ${base} AS s`,
        `RUN mkdir /s && ln -s ${canary} /s/link`,
        `FROM ${base}`,
        line.replaceAll("BASE", base).replaceAll("CANARY", canary.slice(1)),
        "",
      ].join("\n");
      await writeFile(join(ctx, "Dockerfile"), text);
      const before = await canaryState();
      assert.throws(
        () => docker(["build", "--network=host", "--no-cache", "-q", ctx]),
        "BuildKit refuses it",
      );
      let printed = "";
      await assert.rejects(
        build({
          store,
          storeRoot: join(root, "store"),
          contextDir: ctx,
          noCache: true,
          progress: (event) => (printed += JSON.stringify(event)),
        }),
        (error: Error) => {
          // Refused for the right reason: the source is not in the root it names.
          assert.match(error.message, /not found|is not in/);
          return !error.message.includes(marker);
        },
      );
      assert.ok(!printed.includes(marker), "the host file's bytes were printed");
      assert.equal(await canaryState(), before, "the host directory changed");
    });
  }
});
