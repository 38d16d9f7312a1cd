/**
 * Issue 13's build-time rules that tests/build_docker_test.ts cannot hold: cases that need
 * `--build-arg` (checked equal to Docker BuildKit), and cases where Docker 20.10's BuildKit
 * (the local daemon) and current BuildKit part ways, where stratum follows current BuildKit
 * and the expected result comes from current BuildKit's source and tests, named per case.
 * Each stratum image is loaded into docker and run there to read what RUN wrote.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { after, before, describe, test } from "node:test";
import { build } from "../builder/mod.ts";
import { type ImageStore, saveDockerArchive } from "../storage/mod.ts";
import { buildkitBase } from "./_docker.ts";
import { missingPeers } from "./_peers.ts";

const DOCKER = existsSync("/usr/bin/docker") ? "/usr/bin/docker" : "docker";
const PREFIX = `stratum-bksem-${process.pid}`;
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

describe("issue 13: build rules beyond the differential tables", {
  skip: missingPeers("dockerd"),
}, () => {
  let root: string;
  let store: ImageStore;
  let n = 0;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "stratum-bksem-"));
    store = await buildkitBase(root, BASE);
  });

  after(async () => {
    try {
      const images = docker(["images", "--format", "{{.Repository}}:{{.Tag}}"]).split("\n");
      for (const image of images.filter((i) => i.startsWith(`${PREFIX}/`))) {
        docker(["rmi", "-f", image]);
      }
    } catch { /* best effort */ }
    await rm(root, { recursive: true, force: true });
  });

  /** Writes a context; `FROM base` is the shared busybox image. */
  async function context(dockerfile: string, files: Record<string, string> = {}) {
    const ctx = join(root, `ctx${n++}`);
    await mkdir(ctx, { recursive: true });
    for (const [name, body] of Object.entries(files)) {
      await mkdir(dirname(join(ctx, name)), { recursive: true });
      await writeFile(join(ctx, name), body);
    }
    await writeFile(join(ctx, "Dockerfile"), dockerfile.replace(/^FROM base\b/gm, `FROM ${BASE}`));
    return ctx;
  }

  /** Builds with stratum, loads the image into docker, returns its tag. */
  async function ours(ctx: string, buildArgs: Record<string, string> = {}): Promise<string> {
    const tag = `${PREFIX}/stratum:${n++}`;
    await build({ store, storeRoot: join(root, "store"), contextDir: ctx, tags: [tag], buildArgs });
    const archive = new Uint8Array(
      await new Response(saveDockerArchive(store, [tag])).arrayBuffer(),
    );
    docker(["load", "-q"], archive);
    return tag;
  }

  function theirs(ctx: string, buildArgs: Record<string, string> = {}): string {
    const tag = `${PREFIX}/docker:${n++}`;
    const flags = Object.entries(buildArgs).flatMap(([k, v]) => ["--build-arg", `${k}=${v}`]);
    // No cache: BuildKit leaves proxy args out of its cache keys.
    docker(["build", "--network=host", "--no-cache", "-q", ...flags, "-t", tag, ctx]);
    return tag;
  }

  const run = (image: string, ...cmd: string[]) =>
    docker(["run", "--rm", "--network=none", image, ...cmd]);
  const history = (image: string) =>
    docker(["history", "--no-trunc", "--format", "{{.CreatedBy}}", image]).split("\n").reverse();
  const config = (image: string) =>
    JSON.parse(docker(["inspect", "--format", "{{json .Config}}", image]));

  test("proxy build args reach RUN in both spellings, and stay out of history and config (as Docker)", async () => {
    const ctx = await context("FROM base\nRUN env | grep -i _proxy | sort > /out\n");
    const args = { HTTP_PROXY: "http://proxy:3128", no_proxy: "localhost" };
    const [a, b] = [await ours(ctx, args), theirs(ctx, args)];
    assert.equal(
      run(a, "cat", "/out"),
      "HTTP_PROXY=http://proxy:3128\nNO_PROXY=localhost\nhttp_proxy=http://proxy:3128\nno_proxy=localhost",
    );
    assert.equal(run(a, "cat", "/out"), run(b, "cat", "/out"));
    assert.deepEqual(history(a), history(b));
    assert.deepEqual(config(a).Env, config(b).Env);
  });

  test("ENV E=E then ARG E with --build-arg E=cli: RUN sees cli, the config keeps E=E (as Docker)", async () => {
    const ctx = await context('FROM base\nENV E=E\nARG E\nRUN echo "[$E]" > /out\n');
    const [a, b] = [await ours(ctx, { E: "cli" }), theirs(ctx, { E: "cli" })];
    assert.equal(run(a, "cat", "/out"), "[cli]");
    assert.equal(run(a, "cat", "/out"), run(b, "cat", "/out"));
    assert.deepEqual(history(a), history(b));
    assert.deepEqual(config(a).Env, config(b).Env);
  });

  // Current BuildKit appends the parent stage's ARGs to the child's (dockerfile2llb
  // dispatchState.init, since 2024-06), so RUN's history lists them; 20.10 listed only the
  // child's own. What RUN sees is the same in both.
  test("a stage FROM a stage: RUN sees and records the inherited ARGs (current BuildKit)", async () => {
    const ctx = await context(`FROM base AS parent
ARG NAME=parent
ARG TARGETARCH
FROM parent
RUN echo "[$NAME] [$TARGETARCH]" > /out
ARG NAME="$NAME-dev"
RUN echo "[$NAME]" >> /out
`);
    const [a, b] = [await ours(ctx), theirs(ctx)];
    assert.equal(run(a, "cat", "/out"), run(b, "cat", "/out"));
    const arch = config(a).Architecture ?? docker(["inspect", "--format", "{{.Architecture}}", a]);
    assert.equal(run(a, "cat", "/out"), `[parent] [${arch}]\n[parent-dev]`);
    assert.deepEqual(history(a).filter((h) => h.startsWith("RUN |")), [
      `RUN |2 NAME=parent TARGETARCH=${arch} /bin/sh -c echo "[$NAME] [$TARGETARCH]" > /out # buildkit`,
      `RUN |2 NAME=parent-dev TARGETARCH=${arch} /bin/sh -c echo "[$NAME]" >> /out # buildkit`,
    ]);
  });

  // Current BuildKit expands only ARG values (dispatch skips ARG's Expand since 2024-04,
  // "avoid evaluating ARG default if unused"); 20.10 expanded the name too and declared
  // `file3`.
  test("ARG ${src}=x declares the name as written, not file3 (current BuildKit)", async () => {
    const ctx = await context(
      'FROM base\nENV src=file3\nARG ${src}=x\nRUN echo "[$file3]" > /out\n',
    );
    const a = await ours(ctx);
    assert.equal(run(a, "cat", "/out"), "[]");
    assert.deepEqual(history(a).slice(-2), [
      "ARG ${src}=x",
      'RUN |1 ${src}=x /bin/sh -c echo "[$file3]" > /out # buildkit',
    ]);
  });

  // dockerfile/1.9.0 and later: text after a JSON array makes the instruction shell form
  // (parser parseJSON unmarshals the whole rest); 20.10 ran the array and dropped the text.
  // In shell form `["f"]` is a source pattern, a class matching the file `f`.
  test("text after a JSON array makes shell form (current BuildKit)", async () => {
    const ctx = await context(
      `FROM base
COPY ["f"] ["x"] /out/
RUN ["true"] || echo shell-form > /ran
CMD ["nginx", "-g", "daemon off;"] # run nginx
`,
      { f: "first", x: "second" },
    );
    const a = await ours(ctx);
    assert.equal(run(a, "cat", "/out/f", "/out/x", "/ran"), "firstsecondshell-form");
    assert.deepEqual(config(a).Cmd, [
      "/bin/sh",
      "-c",
      '["nginx", "-g", "daemon off;"] # run nginx',
    ]);
  });

  // dockerfile/1.16.0: blanks may follow `<<` (parser reHeredoc and the lexer's
  // processPossibleHeredoc); 20.10 knew no heredocs at all.
  test("RUN << EOF is a heredoc (current BuildKit)", async () => {
    const ctx = await context("FROM base\nRUN << EOF\necho heredoc > /out\nEOF\n");
    assert.equal(run(await ours(ctx), "cat", "/out"), "heredoc");
  });

  // Current BuildKit parses non-octal --chmod with dchapes-mode (convert_copy.go); 20.10
  // ignored such values and kept the source mode.
  test("COPY --chmod=+x and u=rw,g=r,o=r apply symbolically (current BuildKit)", async () => {
    const ctx = await context(
      "FROM base\nCOPY --chmod=+x f /x\nCOPY --chmod=u=rw,g=r,o=r f /r\nCOPY --chmod=go-w f /w\n",
      { f: "f" },
    );
    assert.equal(
      run(await ours(ctx), "stat", "-c", "%n %a", "/x", "/r", "/w"),
      "/x 755\n/r 644\n/w 644",
    );
  });

  // fsutil's filter (current BuildKit) walks into excluded directories whenever an exception
  // holds a wildcard; 20.10 went in only where an exception began with the directory's
  // literal path, and sent an empty `sub`.
  test(".dockerignore exceptions with wildcards re-include inside excluded directories (current BuildKit)", async () => {
    const ctx = await context("FROM base\nCOPY . /ctx/\n", {
      ".dockerignore": "Dockerfile\n.dockerignore\nsub\n!sub/*/x.txt\nkeep\n!*/y.txt\n",
      "sub/deep/x.txt": "x",
      "sub/deep/other.txt": "o",
      "keep/y.txt": "y",
      "keep/n.txt": "n",
      "a.txt": "a",
    });
    assert.deepEqual(run(await ours(ctx), "find", "/ctx").split("\n").sort(), [
      "/ctx",
      "/ctx/a.txt",
      "/ctx/keep",
      "/ctx/keep/y.txt",
      "/ctx/sub",
      "/ctx/sub/deep",
      "/ctx/sub/deep/x.txt",
    ]);
  });
});
