import { test } from "node:test";
import assert from "node:assert/strict";
import { InvalidReferenceError } from "./errors.ts";
import { parseReference, Reference } from "./reference.ts";

const F64 = "f".repeat(64);

// Expected results below come from Docker's own tests in github.com/distribution/reference
// (normalize_test.go, and reference_test.go run through ParseNormalizedNamed's defaults).

test("parseReference() normalizes names the way Docker's ParseNormalizedNamed does", async (t) => {
  const cases: [string, string, string, string | undefined, string | undefined][] = [
    // input, registry, repository, tag, digest
    ["busybox", "docker.io", "library/busybox", "latest", undefined],
    ["test_com", "docker.io", "library/test_com", "latest", undefined],
    ["test.com:tag", "docker.io", "library/test.com", "tag", undefined],
    ["test.com:5000", "docker.io", "library/test.com", "5000", undefined],
    ["test.com/repo:tag", "test.com", "repo", "tag", undefined],
    ["test:5000/repo", "test:5000", "repo", "latest", undefined],
    ["test:5000/repo:tag", "test:5000", "repo", "tag", undefined],
    [`test:5000/repo@sha256:${F64}`, "test:5000", "repo", undefined, `sha256:${F64}`],
    [`test:5000/repo:tag@sha256:${F64}`, "test:5000", "repo", "tag", `sha256:${F64}`],
    ["lowercase:Uppercase", "docker.io", "library/lowercase", "Uppercase", undefined],
    ["sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", "bar/baz/quux", "latest", undefined],
    [
      "b.gcr.io/test.example.com/my-app:test.example.com",
      "b.gcr.io",
      "test.example.com/my-app",
      "test.example.com",
      undefined,
    ],
    ["xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", "xn--n3h.com", undefined],
    ["foo_bar.com:8080", "docker.io", "library/foo_bar.com", "8080", undefined],
    ["foo/foo_bar.com:8080", "docker.io", "foo/foo_bar.com", "8080", undefined],
    ["192.168.1.1", "docker.io", "library/192.168.1.1", "latest", undefined],
    ["192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo", "5050", undefined],
    ["[2001:db8::1]/repo", "[2001:db8::1]", "repo", "latest", undefined],
    ["[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]", "repo", "tag", undefined],
    [
      `[2001:db8::1]:5000/repo:tag@sha256:${F64}`,
      "[2001:db8::1]:5000",
      "repo",
      "tag",
      `sha256:${F64}`,
    ],
    ["[::1]:5000/repo", "[::1]:5000", "repo", "latest", undefined],
    ["test_com/foo", "docker.io", "test_com/foo", "latest", undefined],
    ["docker/migrator", "docker.io", "docker/migrator", "latest", undefined],
    ["test-com:8080/foo", "test-com:8080", "foo", "latest", undefined],
    ["docker.io/foo", "docker.io", "library/foo", "latest", undefined],
    ["docker.io/library/foo/bar", "docker.io", "library/foo/bar", "latest", undefined],
    ["index.docker.io/library/debian", "docker.io", "library/debian", "latest", undefined],
    ["index.docker.io/debian", "docker.io", "library/debian", "latest", undefined],
    ["localhost/foo", "localhost", "foo", "latest", undefined],
    ["localhost:5000/x", "localhost:5000", "x", "latest", undefined],
    ["Docker/docker", "Docker", "docker", "latest", undefined],
    ["DOCKER/docker", "DOCKER", "docker", "latest", undefined],
    ["dock__er/docker", "docker.io", "dock__er/docker", "latest", undefined],
    ["docker---rules/docker", "docker.io", "docker---rules/docker", "latest", undefined],
    ["d/docker", "docker.io", "d/docker", "latest", undefined],
    [
      "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
      "docker.io",
      "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
      "latest",
      undefined,
    ],
    [
      "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
      "docker.io",
      "library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
      "latest",
      undefined,
    ],
  ];
  for (const [input, registry, repository, tag, digest] of cases) {
    await t.test(input, () => {
      const ref = parseReference(input);
      assert.equal(ref.registry, registry);
      assert.equal(ref.repository, repository);
      assert.equal(ref.tag, tag);
      assert.equal(ref.digest, digest);
    });
  }
});

test("parseReference() gives Docker's full and familiar names", async (t) => {
  // TestParseRepositoryInfo: every spelling of a name yields the same full and familiar name.
  const cases: [string[], string, string][] = [
    [
      ["fooo/bar", "docker.io/fooo/bar", "index.docker.io/fooo/bar"],
      "docker.io/fooo/bar",
      "fooo/bar",
    ],
    [
      ["ubuntu", "docker.io/library/ubuntu", "library/ubuntu"],
      "docker.io/library/ubuntu",
      "ubuntu",
    ],
    [["nonlibrary/ubuntu"], "docker.io/nonlibrary/ubuntu", "nonlibrary/ubuntu"],
    [["other/library"], "docker.io/other/library", "other/library"],
    [
      ["127.0.0.1:8000/private/moonbase"],
      "127.0.0.1:8000/private/moonbase",
      "127.0.0.1:8000/private/moonbase",
    ],
    [
      ["example.com:8000/privatebasee"],
      "example.com:8000/privatebasee",
      "example.com:8000/privatebasee",
    ],
    [
      ["ubuntu-12.04-base", "index.docker.io/library/ubuntu-12.04-base"],
      "docker.io/library/ubuntu-12.04-base",
      "ubuntu-12.04-base",
    ],
    [["foo", "docker.io/foo"], "docker.io/library/foo", "foo"],
    [["library/foo/bar"], "docker.io/library/foo/bar", "library/foo/bar"],
    [["store/foo/bar"], "docker.io/store/foo/bar", "store/foo/bar"],
    [["Foo/bar"], "Foo/bar", "Foo/bar"],
    [["localhost:5000/x"], "localhost:5000/x", "localhost:5000/x"],
  ];
  for (const [inputs, name, familiar] of cases) {
    for (const input of inputs) {
      await t.test(input, () => {
        const ref = parseReference(input);
        assert.equal(ref.name, name);
        assert.equal(ref.familiarName, familiar);
      });
    }
  }
});

test("toString() is fully qualified and keeps both tag and digest", () => {
  const short =
    "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa";
  const ref = parseReference(short);
  assert.equal(ref.toString(), `docker.io/library/${short}`);
  assert.equal(ref.toFamiliarString(), short);
  assert.equal(`${parseReference("busybox")}`, "docker.io/library/busybox:latest");
});

test("a digest-only reference gets no default tag", () => {
  const ref = parseReference(`redis@sha256:${F64}`);
  assert.equal(ref.tag, undefined);
  assert.equal(ref.toString(), `docker.io/library/redis@sha256:${F64}`);
});

test("parseReference() rejects what Docker rejects, quoting the input", async (t) => {
  const cases: [string, RegExp][] = [
    ["", /at least one component/],
    [":justtag", /invalid reference format/],
    [`@sha256:${F64}`, /invalid reference format/],
    ["repo@sha256:ffffffffffffffffffffffffffffffffff", /64 hex characters/],
    // distribution/reference: digest.ErrDigestUnsupported.
    [`validname@invaliddigest:${F64}`, /Unsupported digest algorithm "invaliddigest"/],
    ["Uppercase:tag", /repository name must be lowercase/],
    ["test:5000/Uppercase/lowercase:tag", /repository name must be lowercase/],
    ["docker/Docker", /repository name must be lowercase/],
    ["docker.io/docker/Docker", /repository name must be lowercase/],
    ["a/".repeat(128) + "a:tag", /not be more than 255 characters/],
    ["aa/asdf$$^/aa", /invalid reference format/],
    ["[2001:db8::1]", /invalid reference format/],
    ["[2001:db8::1]:5000", /invalid reference format/],
    ["[fe80::1%eth0]:5000/repo", /invalid reference format/],
    ["[2001:db8:3:4::192.0.2.33]:5000/debian", /invalid reference format/],
    ["fc00::1:5000/debian", /invalid reference format/],
    ["https://github.com/docker/docker", /invalid reference format/],
    ["-docker", /invalid reference format/],
    ["-docker.io/docker/docker", /invalid reference format/],
    ["docker///docker", /invalid reference format/],
    ["docker-/docker", /invalid reference format/],
    ["____/____", /invalid reference format/],
    ["dock..er/docker", /invalid reference format/],
    ["dock_.er/docker", /invalid reference format/],
    ["dock-.er/docker", /invalid reference format/],
    ["docker/", /invalid reference format/],
    ["busybox:-foo", /invalid reference format/],
    ["1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", /image ID/],
    [
      Array(4).fill("this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255").join(
        "_",
      ) +
      "/docker",
      /not be more than 255 characters/,
    ],
  ];
  for (const [input, reason] of cases) {
    await t.test(JSON.stringify(input), () => {
      assert.throws(() => parseReference(input), (err) => {
        assert.ok(err instanceof InvalidReferenceError);
        assert.ok(err instanceof SyntaxError);
        assert.equal(err.input, input);
        assert.ok(err.message.includes(`"${input}"`), err.message);
        assert.match(err.message, reason);
        return true;
      });
    });
  }
});

test("a sha512 digest, valid for Docker, is accepted since stratum can verify it", () => {
  const digest = `sha512:${"f".repeat(128)}`;
  const ref = parseReference(`xn--7o8h.com/myimage:xn--7o8h.com@${digest}`);
  assert.equal(ref.digest, digest);
  assert.equal(ref.tag, "xn--7o8h.com");
  assert.equal(ref.toString(), `xn--7o8h.com/myimage:xn--7o8h.com@${digest}`);
  assert.throws(
    () => parseReference(`x@sha512:${"F".repeat(128)}`),
    /lower case/,
  );
});

test("new Reference() validates its parts", () => {
  const ref = new Reference({
    registry: "localhost:5000",
    repository: "app",
    digest: `sha256:${F64}`,
  });
  assert.equal(ref.toString(), `localhost:5000/app@sha256:${F64}`);
  assert.throws(
    () => new Reference({ registry: "localhost", repository: "App" }),
    InvalidReferenceError,
  );
  assert.throws(
    () => new Reference({ registry: "localhost", repository: "a", tag: ".bad" }),
    /invalid tag/,
  );
});
