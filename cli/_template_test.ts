import assert from "node:assert/strict";
import { test } from "node:test";
import { parseTemplate } from "./_template.ts";
import { goPrint, nilMap, nilSlice, TemplateError } from "./_template_values.ts";

// Cases from Go's text/template exec_test.go (over the same data, as JSON-shaped values)
// and docker's formatter tests (cli/templates/templates_test.go).
const data = {
  X: "x",
  I: 17,
  U: null,
  SI: [3, 4, 5],
  SIEmpty: [],
  SB: [true, false],
  MSI: { one: 1, two: 2, three: 3 },
  MSIone: { one: 1 },
  MSIEmpty: {},
  F: 1.5,
  Big: 1234567.5,
  Str: "hello, world",
  HTML: "<script>",
  Nested: { A: { B: "deep" } },
  NilSlice: nilSlice(),
  NilMap: nilMap(),
};

const ok: [string, string, string][] = [
  ["empty", "", ""],
  ["text", "some text", "some text"],
  [".X", "-{{.X}}-", "-x-"],
  ["int", "{{.I}}", "17"],
  ["float", "{{.F}}", "1.5"],
  ["big float", "{{.Big}}", "1234567.5"],
  ["map .one", "{{.MSI.one}}", "1"],
  ["map .two", "{{.MSI.two}}", "2"],
  ["map missing key", "{{.MSIone.xxx}}", "<no value>"],
  ["missing field", "{{.Missing}}", "<no value>"],
  ["nil value", "{{.U}}", "<nil>"],
  ["slice", "{{.SI}}", "[3 4 5]"],
  ["empty slice", "{{.SIEmpty}}", "[]"],
  ["bool slice", "{{.SB}}", "[true false]"],
  ["map", "{{.MSI}}", "map[one:1 three:3 two:2]"],
  ["empty map", "{{.MSIEmpty}}", "map[]"],
  ["nested", "{{.Nested.A.B}}", "deep"],
  ["nested map", "{{.Nested}}", "map[A:map[B:deep]]"],
  ["dot int", "<{{.I}}>", "<17>"],
  ["$", "{{$.X}}", "x"],
  ["declaration", "{{$x := `hello`}}{{$x}}", "hello"],
  ["assignment", "{{$x := 1}}{{$x = 2}}{{$x}}", "2"],
  ["range []int", "{{range .SI}}-{{.}}-{{end}}", "-3--4--5-"],
  ["range empty no else", "{{range .SIEmpty}}-{{.}}-{{end}}", ""],
  ["range []int else", "{{range .SI}}-{{.}}-{{else}}EMPTY{{end}}", "-3--4--5-"],
  ["range empty else", "{{range .SIEmpty}}-{{.}}-{{else}}EMPTY{{end}}", "EMPTY"],
  ["range map", "{{range .MSI}}-{{.}}-{{end}}", "-1--3--2-"],
  ["range empty map no else", "{{range .MSIEmpty}}-{{.}}-{{end}}", ""],
  ["range $x SI", "{{range $x := .SI}}<{{$x}}>{{end}}", "<3><4><5>"],
  ["range $x $y SI", "{{range $x, $y := .SI}}<{{$x}}={{$y}}>{{end}}", "<0=3><1=4><2=5>"],
  ["range $x MSI", "{{range $x := .MSI}}<{{$x}}>{{end}}", "<1><3><2>"],
  ["range $x $y MSI", "{{range $x, $y := .MSI}}<{{$x}}={{$y}}>{{end}}", "<one=1><three=3><two=2>"],
  ["range nil", "{{range .U}}x{{end}}", ""],
  ["range $ in range", "{{range .SI}}{{$.X}}{{end}}", "xxx"],
  ["if true", "{{if true}}TRUE{{end}}", "TRUE"],
  ["if false", "{{if false}}TRUE{{else}}FALSE{{end}}", "FALSE"],
  ["if 1", "{{if 1}}NON-ZERO{{else}}ZERO{{end}}", "NON-ZERO"],
  ["if 0", "{{if 0}}NON-ZERO{{else}}ZERO{{end}}", "ZERO"],
  ["if emptystring", "{{if ``}}NON-EMPTY{{else}}EMPTY{{end}}", "EMPTY"],
  ["if string", "{{if `notempty`}}NON-EMPTY{{else}}EMPTY{{end}}", "NON-EMPTY"],
  ["if emptyslice", "{{if .SIEmpty}}NON-EMPTY{{else}}EMPTY{{end}}", "EMPTY"],
  ["if slice", "{{if .SI}}NON-EMPTY{{else}}EMPTY{{end}}", "NON-EMPTY"],
  ["if emptymap", "{{if .MSIEmpty}}NON-EMPTY{{else}}EMPTY{{end}}", "EMPTY"],
  ["if map", "{{if .MSI}}NON-EMPTY{{else}}EMPTY{{end}}", "NON-EMPTY"],
  ["if nil", "{{if .U}}X{{else}}Y{{end}}", "Y"],
  ["if else if", "{{if false}}FALSE{{else if true}}TRUE{{end}}", "TRUE"],
  ["if else chain", "{{if eq 1 3}}1{{else if eq 2 3}}2{{else if eq 3 3}}3{{end}}", "3"],
  ["with", "{{with `hello`}}{{.}}{{end}}", "hello"],
  ["with empty", "{{with ``}}{{.}}{{else}}EMPTY{{end}}", "EMPTY"],
  ["with map", "{{with .Nested.A}}{{.B}}{{end}}", "deep"],
  ["print", `{{print "hello, print"}}`, "hello, print"],
  ["print 123", "{{print 1 2 3}}", "1 2 3"],
  ["println", "{{println 1 2 3}}", "1 2 3\n"],
  ["printf string", `{{printf "%s" "hello"}}`, "hello"],
  ["printf int", `{{printf "%d" 17}}`, "17"],
  ["printf width", `{{printf "%-5s|" "ab"}}`, "ab   |"],
  ["printf %q", `{{printf "%q" "x"}}`, `"x"`],
  ["pipeline", `{{"output" | printf "%s"}}`, "output"],
  ["parenthesized", `{{print (index .SI 1)}}`, "4"],
  ["paren field", `{{(index .Nested "A").B}}`, "deep"],
  ["index slice", "{{index .SI 1}}", "4"],
  ["index map", `{{index .MSI "two"}}`, "2"],
  ["index missing map key", `{{index .MSI "XXX"}}`, "<nil>"],
  ["len slice", "{{len .SI}}", "3"],
  ["len map", "{{len .MSI}}", "3"],
  ["len string", "{{len .X}}", "1"],
  ["not", "{{not true}} {{not false}}", "false true"],
  ["and", "{{and 1 0}} {{and 1 2}}", "0 2"],
  ["or", "{{or 0 1}} {{or 0 ``}}", "1 "],
  ["eq", "{{eq 1 2}} {{eq 2 2}} {{eq 3 1 2 3}}", "false true true"],
  ["eq string", `{{eq .X "x"}}`, "true"],
  [
    "ne lt gt",
    "{{ne 1 2}} {{lt 1 2}} {{gt 1 2}} {{le 2 2}} {{ge 1 2}}",
    "true true false true false",
  ],
  ["comment", "a{{/* a comment */}}b", "ab"],
  ["trim left", "x \r\n\t{{- 3}}", "x3"],
  ["trim right", "{{3 -}}\n\n\ty", "3y"],
  ["trim both", "x \n{{- 3 -}}\n y", "x3y"],
  ["negative number", "{{-3}}", "-3"],
  // docker's functions
  ["json string", `{{json .X}}`, `"x"`],
  ["json slice", "{{json .SI}}", "[3,4,5]"],
  ["json map", "{{json .MSIone}}", `{"one":1}`],
  ["json html escaped", "{{json .HTML}}", `"\\u003cscript\\u003e"`],
  ["json nil", "{{json .U}}", "null"],
  ["json pipeline", "{{.SI | json}}", "[3,4,5]"],
  ["join", `{{join .SI ","}}`, "3,4,5"],
  ["split", `{{split "a,b" ","}}`, "[a b]"],
  ["upper lower", `{{upper .X}}{{lower "ABC"}}`, "Xabc"],
  ["title", `{{title "hello world"}}`, "Hello World"],
  ["truncate", `{{truncate .Str 5}}`, "hello"],
  ["truncate longer", `{{truncate .X 5}}`, "x"],
  ["pad", `{{pad .X 1 2}}`, " x  "],
  // A typed struct's nil slice and map (docker's typed inspect data).
  ["nil slice", "{{.NilSlice}}", "[]"],
  ["nil map", "{{.NilMap}}", "map[]"],
  ["json nil slice", "{{json .NilSlice}}", "null"],
  ["json nil map", "{{json .NilMap}}", "null"],
  ["range nil slice", "{{range .NilSlice}}x{{else}}none{{end}}", "none"],
  ["len nil map", "{{len .NilMap}}", "0"],
];

for (const [name, template, want] of ok) {
  test(`template: ${name}`, () => {
    assert.equal(parseTemplate(template).execute(data), want);
  });
}

const bad: [string, string, RegExp][] = [
  ["unknown function", "{{nope .X}}", /function "nope" not defined/],
  ["unclosed action", "{{.X", /unclosed action/],
  ["unclosed range", "{{range .SI}}x", /unexpected EOF/],
  ["stray end", "x{{end}}", /unexpected \{\{end\}\}/],
  ["field of string", "{{.X.Y}}", /can't evaluate field Y in type string/],
  ["field of nil", "{{.U.Y}}", /nil pointer evaluating interface \{\}\.Y/],
  ["index out of range", "{{index .SI 5}}", /index out of range: 5/],
  ["undefined variable", "{{$nope}}", /undefined variable: \$nope/],
  ["wrong args", "{{json 1 2}}", /wrong number of args for json: want 1 got 2/],
  ["argument to field", "{{.X 1}}", /can't give argument to non-function/],
  ["nil command", "{{nil}}", /nil is not a command/],
  ["range over string", "{{range .X}}{{end}}", /range can't iterate over x/],
];
for (const [name, template, want] of bad) {
  test(`template error: ${name}`, () => {
    assert.throws(() => parseTemplate(template).execute(data), (e: Error) => {
      assert.ok(e instanceof TemplateError, String(e));
      assert.match(e.message, want);
      return true;
    });
  });
}

test("goPrint prints floats and nested values as Go's fmt does", () => {
  assert.equal(goPrint(1e21), "1e+21");
  assert.equal(goPrint(0.00001), "1e-05");
  assert.equal(goPrint(0.5), "0.5");
  assert.equal(goPrint([null, { a: [1] }]), "[<nil> map[a:[1]]]");
  assert.equal(goPrint(undefined), "<no value>");
});
