import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { expandWord, expandWords } from "./word_expansion.ts";
import { WordExpansionError } from "./errors.ts";

const env = {
  PWD: "/home",
  SHELL: "bash",
  KOREAN: "한국어",
  EMPTY: "",
  SPACED: "a  b",
  F: "file.tar.gz",
  P: "/usr/local/bin",
  S: "a*b",
};

// [input, expected] — each row is one quoting, escape or operator case.
const words: Array<[string, string]> = [
  ["hello", "hello"],
  ["he'll'o", "hello"],
  ['he"l"lo', "hello"],
  ["he\\'llo", "he'llo"],
  ['"he\\"llo"', 'he"llo'],
  ["'he\\llo'", "he\\llo"],
  ['"a\\b"', "a\\b"],
  ['"a\\\\b"', "a\\b"],
  ['"\\$PWD"', "$PWD"],
  ["\\$PWD", "$PWD"],
  ["a\\ b", "a b"],
  ["a\\", "a"],
  ["'it''s'", "its"],
  ['"it\'s"', "it's"],
  ["$PWD", "/home"],
  ["${PWD}", "/home"],
  ["'$PWD'", "$PWD"],
  ['"$PWD"', "/home"],
  ["$PWD/x", "/home/x"],
  ["${PWD}x", "/homex"],
  ["$PWDx", ""],
  ["$", "$"],
  ["a$", "a$"],
  ["$ a", "$ a"],
  ["$1x", "x"],
  ["${KOREAN}!", "한국어!"],
  ["$UNSET", ""],
  ["${UNSET}", ""],
  // ${var:-w} / ${var-w}: the colon makes empty count as unset.
  ["${UNSET:-def}", "def"],
  ["${EMPTY:-def}", "def"],
  ["${PWD:-def}", "/home"],
  ["${UNSET-def}", "def"],
  ["${EMPTY-def}", ""],
  ["${PWD-def}", "/home"],
  // ${var:+w} / ${var+w}
  ["${UNSET:+alt}", ""],
  ["${EMPTY:+alt}", ""],
  ["${PWD:+alt}", "alt"],
  ["${UNSET+alt}", ""],
  ["${EMPTY+alt}", "alt"],
  ["${PWD+alt}", "alt"],
  // ${var:?msg} / ${var?msg} when they do not fail
  ["${PWD:?msg}", "/home"],
  ["${PWD?msg}", "/home"],
  ["${EMPTY?msg}", ""],
  // operands are expanded and unquoted too
  ["${UNSET:-$PWD}", "/home"],
  ["${UNSET:-${SHELL}x}", "bashx"],
  ["${UNSET:-'a b'}", "a b"],
  ['${UNSET:-"$PWD"}', "/home"],
  ["${PWD:+${SHELL:-x}}", "bash"],
  // prefix and suffix removal
  ["${F#*.}", "tar.gz"],
  ["${F##*.}", "gz"],
  ["${F%.*}", "file.tar"],
  ["${F%%.*}", "file"],
  ["${P#/usr}", "/local/bin"],
  ["${P%/bin}", "/usr/local"],
  ["${F#nomatch}", "file.tar.gz"],
  ["${F#f?le}", ".tar.gz"],
  ["${S#a\\*}", "b"],
  ["${S%\\*b}", "a"],
  ["${UNSET#x}", ""],
  // pattern replacement
  ["${F/tar/zip}", "file.zip.gz"],
  ["${F//./_}", "file_tar_gz"],
  ["${F/./}", "filetar.gz"],
  // Only `/` ends the pattern, so `}` is part of it here (it matches nothing).
  ["${F/.}gz/X}", "file.tar.gz"],
  ["${P//\\//:}", ":usr:local:bin"],
  ["${F/*./X}", "Xgz"],
  ["${F/nomatch/X}", "file.tar.gz"],
  ["${UNSET/a/b}", ""],
];

const failures: Array<[string, string]> = [
  ["${UNSET:?msg}", "UNSET: msg"],
  ["${EMPTY:?msg}", "EMPTY: msg"],
  ["${EMPTY:?}", "EMPTY: is not allowed to be empty"],
  ["${UNSET:?}", "UNSET: is not allowed to be unset"],
  ["${UNSET?}", "UNSET: is not allowed to be unset"],
  ["${UNSET?custom message}", "UNSET: custom message"],
  ["${", "syntax error: missing '}'"],
  ["${}", "syntax error: bad substitution"],
  ["${:x}", "syntax error: bad substitution"],
  ["${{x}", "syntax error: bad substitution"],
  ["${PWD", "syntax error: missing '}'"],
  ["${PWD:-x", "syntax error: missing '}'"],
  ["'abc", "unexpected end of statement while looking for matching single-quote"],
  ['"abc', "unexpected end of statement while looking for matching double-quote"],
  ["${PWD:=x}", "unsupported modifier (:=) in substitution"],
  ["${PWD:#x}", "unsupported modifier (:#) in substitution"],
  ["${PWD^x}", "unsupported modifier (^) in substitution"],
  ["${F#\\a}", "invalid pattern (\\a) in substitution: invalid escape '\\a'"],
  // A replacement needs both slashes, as in BuildKit's lexer.
  ["${F/.}", "syntax error: missing '/' in ${}"],
  ["${F//x}", "syntax error: missing '/' in ${}"],
  ["${F/x/y", "syntax error: missing '}'"],
];

describe("expandWord()", () => {
  for (const [input, expected] of words) {
    test(`expands ${JSON.stringify(input)} to ${JSON.stringify(expected)}`, () => {
      assert.equal(expandWord(input, env), expected);
    });
  }

  for (const [input, reason] of failures) {
    test(`rejects ${JSON.stringify(input)} with "${reason}"`, () => {
      assert.throws(() => expandWord(input, env), (error: unknown) => {
        assert.ok(error instanceof WordExpansionError);
        assert.equal(error.message, `failed to process ${JSON.stringify(input)}: ${reason}`);
        assert.equal(error.word, input);
        return true;
      });
    });
  }

  test("reads a Map as well as a record", () => {
    assert.equal(expandWord("${A}-${B:-b}", new Map([["A", "a"]])), "a-b");
  });

  test("uses a backtick as the escape when told to, leaving backslashes literal", () => {
    const options = { escapeToken: "`" };
    assert.equal(expandWord("C:\\dir\\$PWD", env, options), "C:\\dir\\/home");
    assert.equal(expandWord("a`$PWD", env, options), "a$PWD");
    assert.equal(expandWord('"a`"b"', env, options), 'a"b');
  });

  test("leaves unset references as written with skipUnsetEnv", () => {
    assert.equal(
      expandWord("$UNSET ${UNSET} ${UNSET:-x} ${PWD}", env, { skipUnsetEnv: true }),
      "$UNSET ${UNSET} ${UNSET:-x} /home",
    );
    // BuildKit writes a replacement back with one slash, `//` included.
    assert.equal(expandWord("${UNSET//a/b}", env, { skipUnsetEnv: true }), "${UNSET/a/b}");
  });

  test("keeps quotes and escapes with rawQuotes and rawEscapes", () => {
    assert.equal(
      expandWord(`'a' "b" c\\ d`, env, { rawQuotes: true, rawEscapes: true }),
      `'a' "b" c\\ d`,
    );
  });
});

describe("expandWords()", () => {
  const cases: Array<[string, string[]]> = [
    ["a b  c", ["a", "b", "c"]],
    ['"a b" c', ["a b", "c"]],
    ["'a b'c d", ["a bc", "d"]],
    ["a\\ b c", ["a b", "c"]],
    ["$SPACED", ["a", "b"]],
    ['"$SPACED"', ["a  b"]],
    ["x$UNSET y", ["x", "y"]],
    ["${UNSET:-one two}", ["one", "two"]],
    ['a "" b', ["a", "b"]],
    ["", []],
    // `<<` keeps the blanks after it and the next word (BuildKit since dockerfile/1.16.0).
    ["RUN << EOF", ["RUN", "<< EOF"]],
    ["<<  EOF  > foo", ["<<  EOF", ">", "foo"]],
    ["<<-\tEOF", ["<<-", "EOF"]],
    ["a < b <c", ["a", "<", "b", "<c"]],
    ['"<< x"', ["<< x"]],
  ];
  for (const [input, expected] of cases) {
    test(`splits ${JSON.stringify(input)} into ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(expandWords(input, env), expected);
    });
  }
});
