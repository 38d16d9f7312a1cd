import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  cleanPath,
  createContextFilter,
  DockerignoreMatcher,
  dockerignorePathFor,
  filterContext,
  parseDockerignore,
} from "./dockerignore.ts";

// Single-pattern cases from moby/patternmatcher's TestMatches: [pattern, path, matches
// (the path itself or one of its parent directories)].
const single: Array<[string, string, boolean]> = [
  ["**", "file", true],
  ["**", "file/", true],
  ["**/", "file", true],
  ["**/", "file/", true],
  ["**", "/", true],
  ["**/", "/", true],
  ["**", "dir/file", true],
  ["**/", "dir/file", true],
  ["**", "dir/file/", true],
  ["**/", "dir/file/", true],
  ["**/**", "dir/file", true],
  ["**/**", "dir/file/", true],
  ["dir/**", "dir/file", true],
  ["dir/**", "dir/file/", true],
  ["dir/**", "dir/dir2/file", true],
  ["dir/**", "dir/dir2/file/", true],
  ["**/dir", "dir", true],
  ["**/dir", "dir/file", true],
  ["**/dir2/*", "dir/dir2/file", true],
  ["**/dir2/*", "dir/dir2/file/", true],
  ["**/dir2/**", "dir/dir2/dir3/file", true],
  ["**/dir2/**", "dir/dir2/dir3/file/", true],
  ["**file", "file", true],
  ["**file", "dir/file", true],
  ["**/file", "dir/file", true],
  ["**file", "dir/dir/file", true],
  ["**/file", "dir/dir/file", true],
  ["**/file*", "dir/dir/file", true],
  ["**/file*", "dir/dir/file.txt", true],
  ["**/file*txt", "dir/dir/file.txt", true],
  ["**/file*.txt", "dir/dir/file.txt", true],
  ["**/file*.txt*", "dir/dir/file.txt", true],
  ["**/**/*.txt", "dir/dir/file.txt", true],
  ["**/**/*.txt2", "dir/dir/file.txt", false],
  ["**/*.txt", "file.txt", true],
  ["**/**/*.txt", "file.txt", true],
  ["a**/*.txt", "a/file.txt", true],
  ["a**/*.txt", "a/dir/file.txt", true],
  ["a**/*.txt", "a/dir/dir/file.txt", true],
  ["a/*.txt", "a/dir/file.txt", false],
  ["a/*.txt", "a/file.txt", true],
  ["a/*.txt**", "a/file.txt", true],
  ["a[b-d]e", "ae", false],
  ["a[b-d]e", "ace", true],
  ["a[b-d]e", "aae", false],
  ["a[^b-d]e", "aze", true],
  [".*", ".foo", true],
  [".*", "foo", false],
  ["abc.def", "abcdef", false],
  ["abc.def", "abc.def", true],
  ["abc.def", "abcZdef", false],
  ["abc?def", "abcZdef", true],
  ["abc?def", "abcdef", false],
  ["**/foo/bar", "foo/bar", true],
  ["**/foo/bar", "dir/foo/bar", true],
  ["**/foo/bar", "dir/dir2/foo/bar", true],
  ["abc/**", "abc", false],
  ["abc/**", "abc/def", true],
  ["abc/**", "abc/def/ghi", true],
  ["**/.foo", ".foo", true],
  ["**/.foo", "bar.foo", false],
  ["a(b)c/def", "a(b)c/def", true],
  ["a(b)c/def", "a(b)c/xyz", false],
  ["a.|)$(}+{bc", "a.|)$(}+{bc", true],
  [
    "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
    "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
    true,
  ],
  ["dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true],
  ["a\\\\", "a\\", true],
  ["a\\*b", "a*b", true],
  // From Go's filepath.Match tests, as patternmatcher's TestMatch runs them.
  ["abc", "abc", true],
  ["*", "abc", true],
  ["*c", "abc", true],
  ["a*", "a", true],
  ["a*", "abc", true],
  ["a*", "ab/c", true],
  ["a*/b", "abc/b", true],
  ["a*/b", "a/c/b", false],
  ["a*b*c*d*e*/f", "axbxcxdxe/f", true],
  ["a*b*c*d*e*/f", "axbxcxdxexxx/f", true],
  ["a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false],
  ["a*b*c*d*e*/f", "axbxcxdxexxx/fff", false],
  ["a*b?c*x", "abxbbxdbxebxczzx", true],
  ["a*b?c*x", "abxbbxdbxebxczzy", false],
  ["ab[c]", "abc", true],
  ["ab[b-d]", "abc", true],
  ["ab[e-g]", "abc", false],
  ["ab[^c]", "abc", false],
  ["ab[^b-d]", "abc", false],
  ["ab[^e-g]", "abc", true],
  ["a\\*b", "ab", false],
  ["a?b", "a☺b", true],
  ["a[^a]b", "a☺b", true],
  ["a???b", "a☺b", false],
  ["a[^a][^a][^a]b", "a☺b", false],
  ["[a-ζ]*", "α", true],
  ["*[a-ζ]", "A", false],
  ["a?b", "a/b", false],
  ["a*b", "a/b", false],
  ["[\\]a]", "]", true],
  ["[\\-]", "-", true],
  ["[x\\-]", "x", true],
  ["[x\\-]", "-", true],
  ["[x\\-]", "z", false],
  ["[\\-x]", "x", true],
  ["[\\-x]", "-", true],
  ["[\\-x]", "a", false],
  ["*x", "xxx", true],
];

// Malformed patterns Go's filepath.Match rejects, and so Docker does.
const malformed = [
  "[]a]",
  "[-]",
  "[x-]",
  "[-x]",
  "\\",
  "[a-b-c]",
  "[",
  "[^",
  "[^bc",
  "a[",
];

// Multi-pattern cases: exceptions and the last-match-wins rule.
const multi: Array<[string[], string, boolean]> = [
  [["**", "!util/docker/web"], "util/docker/web/foo", false],
  [["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", true],
  [["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", false],
  [["*"], "fileutils.go", true],
  [["*.go"], "fileutils.go", true],
  [["!fileutils.go", "*.go"], "fileutils.go", true],
  [["*.go", "!fileutils.go"], "fileutils.go", false],
  [["docs", "!docs/README.md"], "docs/README.md", false],
  [["docs/", "!docs/README.md"], "docs/README.md", false],
  [["docs/*", "!docs/README.md"], "docs/README.md", false],
  [["docs", "!docs/README.md"], "docs/other.md", true],
  [["*.go"], ".", false],
  [[], "any/path/there", false],
];

describe("DockerignoreMatcher", () => {
  for (const [pattern, path, expected] of single) {
    test(
      `${expected ? "matches" : "does not match"} ${JSON.stringify(path)} with ${
        JSON.stringify(pattern)
      }`,
      () => {
        assert.equal(new DockerignoreMatcher([pattern]).matches(path), expected);
      },
    );
  }

  for (const patterns of multi) {
    const [list, path, expected] = patterns;
    test(`${expected ? "ignores" : "keeps"} ${JSON.stringify(path)} under ${JSON.stringify(list)}`, () => {
      assert.equal(new DockerignoreMatcher(list).matches(path), expected);
    });
  }

  for (const pattern of malformed) {
    test(`rejects the malformed pattern ${JSON.stringify(pattern)} naming it`, () => {
      assert.throws(
        () => new DockerignoreMatcher([pattern]),
        (error: unknown) =>
          error instanceof SyntaxError && error.message.includes(JSON.stringify(pattern)),
      );
    });
  }

  test("rejects a lone ! exception", () => {
    assert.throws(() => new DockerignoreMatcher(["!"]), /illegal exclusion pattern: "!"/);
  });

  test("is case-sensitive, as Docker is on Linux", () => {
    assert.equal(new DockerignoreMatcher(["README.md"]).matches("readme.md"), false);
  });

  test("reports whether it has exceptions", () => {
    assert.equal(new DockerignoreMatcher(["a", "  !a/b  "]).hasExclusions, true);
    assert.equal(new DockerignoreMatcher(["a"]).hasExclusions, false);
  });
});

describe("parseDockerignore()", () => {
  test("skips comments and blank lines, trims, cleans and drops a leading slash", () => {
    const text =
      "\uFEFF# comment\n\n  node_modules  \n/build/../dist/\n! /keep/./me\n./x//y\n #not\n/\n";
    assert.deepEqual(parseDockerignore(text), [
      "node_modules",
      "dist",
      "!keep/me",
      "x/y",
      "#not",
      "/",
    ]);
  });

  test("treats only a # in the first column as a comment", () => {
    const m = new DockerignoreMatcher(parseDockerignore(" #file\n"));
    assert.equal(m.matches("#file"), true);
  });
});

describe("cleanPath()", () => {
  const cases: Array<[string, string]> = [
    ["", "."],
    ["a//b/./c/..", "a/b"],
    ["../a", "../a"],
    ["/../a", "/a"],
    ["a/", "a"],
  ];
  for (const [input, expected] of cases) {
    test(`cleans ${JSON.stringify(input)} to ${JSON.stringify(expected)}`, () => {
      assert.equal(cleanPath(input), expected);
    });
  }
});

describe("context selection", () => {
  const listing = [
    ".dockerignore",
    "Dockerfile",
    "build/Dockerfile",
    "build/Dockerfile.dockerignore",
    "src/a.ts",
    "src/a_test.ts",
    "docs/README.md",
    "node_modules/x/index.js",
  ];

  test("prefers <Dockerfile>.dockerignore next to the Dockerfile over .dockerignore", () => {
    assert.equal(dockerignorePathFor(listing, "build/Dockerfile"), "build/Dockerfile.dockerignore");
    assert.equal(dockerignorePathFor(listing, "Dockerfile"), ".dockerignore");
    assert.equal(dockerignorePathFor(["Dockerfile"], "Dockerfile"), null);
  });

  test("applies only the ignore file that wins", () => {
    const files: Record<string, string> = {
      ".dockerignore": "node_modules\n",
      "build/Dockerfile.dockerignore": "**/*_test.ts\ndocs\n",
    };
    assert.deepEqual(filterContext(listing, "build/Dockerfile", (p) => files[p]), [
      ".dockerignore",
      "Dockerfile",
      "build/Dockerfile",
      "build/Dockerfile.dockerignore",
      "src/a.ts",
      "node_modules/x/index.js",
    ]);
    assert.deepEqual(
      filterContext(listing, "Dockerfile", (p) => files[p]),
      listing.filter((p) => !p.startsWith("node_modules/")),
    );
  });

  // BuildKit reads the Dockerfile and the ignore file apart from the context, so COPY . sees
  // them only when the ignore file lets them through (the classic builder always sent them).
  test("leaves out the Dockerfile and the ignore file when the ignore file matches them", () => {
    for (const text of ["*\n", "Dockerfile\n.dockerignore\n"]) {
      const include = createContextFilter({
        dockerfilePath: "./Dockerfile",
        dockerignorePath: ".dockerignore",
        dockerignoreText: text,
      });
      assert.equal(include("Dockerfile"), false, text);
      assert.equal(include(".dockerignore"), false, text);
    }
    const none = createContextFilter({ dockerfilePath: "Dockerfile", dockerignoreText: "x\n" });
    assert.equal(none("Dockerfile"), true);
  });
});
