import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { test } from "node:test";
import {
  dockerCredentials,
  removeDockerCredentials,
  saveDockerCredentials,
} from "./docker_config.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "stratum-dockercfg-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("dockerCredentials() decodes base64 auths, Docker Hub under its v1 URL", async () => {
  await withDir(async (dir) => {
    const configPath = join(dir, "config.json");
    await writeFile(
      configPath,
      JSON.stringify({
        auths: {
          "https://index.docker.io/v1/": { auth: btoa("hubuser:hub:pw") },
          "https://ghcr.io": { auth: btoa("gh:token") },
        },
      }),
    );
    assert.deepEqual(await dockerCredentials("docker.io", { configPath }), {
      username: "hubuser",
      password: "hub:pw",
    });
    assert.deepEqual(await dockerCredentials("ghcr.io", { configPath }), {
      username: "gh",
      password: "token",
    });
    assert.equal(await dockerCredentials("quay.io", { configPath }), undefined);
  });
});

test("saveDockerCredentials() writes auths like docker login, mode 0600; remove takes them out", async () => {
  await withDir(async (dir) => {
    const configPath = join(dir, "sub", "config.json");
    await saveDockerCredentials("docker.io", { username: "u", password: "p" }, { configPath });
    const config = JSON.parse(await readFile(configPath, "utf8"));
    assert.deepEqual(config, { auths: { "https://index.docker.io/v1/": { auth: btoa("u:p") } } });
    assert.equal((await stat(configPath)).mode & 0o777, 0o600);
    assert.equal(await removeDockerCredentials("index.docker.io", { configPath }), true);
    assert.equal(await removeDockerCredentials("docker.io", { configPath }), false);
  });
});

test("credHelpers run docker-credential-NAME get with the server on stdin", async () => {
  await withDir(async (dir) => {
    const helper = join(dir, "docker-credential-fake");
    await writeFile(
      helper,
      `#!/bin/sh\nread server\nif [ "$1" = get ] && [ "$server" = "reg.example:5000" ]; then\n` +
        `  echo '{"ServerURL":"reg.example:5000","Username":"helped","Secret":"from-helper"}'\n` +
        `else echo "credentials not found in native keychain"; exit 1; fi\n`,
    );
    await chmod(helper, 0o755);
    const configPath = join(dir, "config.json");
    await writeFile(configPath, JSON.stringify({ credHelpers: { "reg.example:5000": "fake" } }));
    const saved = process.env.PATH;
    process.env.PATH = `${dir}:${saved}`;
    try {
      assert.deepEqual(await dockerCredentials("reg.example:5000", { configPath }), {
        username: "helped",
        password: "from-helper",
      });
      assert.equal(await dockerCredentials("other.example", { configPath }), undefined);
    } finally {
      process.env.PATH = saved;
    }
  });
});

test("a config that is not JSON is an error naming the file", async () => {
  await withDir(async (dir) => {
    const configPath = join(dir, "config.json");
    await writeFile(configPath, "{nope");
    await assert.rejects(dockerCredentials("x.io", { configPath }), (e: Error) => {
      assert.ok(e instanceof SyntaxError);
      assert.ok(e.message.includes(configPath));
      return true;
    });
  });
});
