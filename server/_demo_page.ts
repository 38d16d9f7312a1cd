/**
 * The demo page: plain HTML and CSS kept as strings (its script is in `_demo_script.ts`),
 * so there is no build step and nothing loads from elsewhere (the page works offline and
 * under a strict CSP).
 */

/** The page at `/`. */
export const DEMO_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>stratum: look inside container images</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/demo.css">
<script src="/demo.js" defer></script>
</head>
<body>
<header>
  <h1>stratum</h1>
  <p>Look inside a container image: its layers as a stack and the file tree they merge into.</p>
</header>
<main>
<section aria-labelledby="inspect-title">
  <h2 id="inspect-title">Inspect an image</h2>
  <form id="inspect-form">
    <label for="image">Image reference</label>
    <div class="row">
      <input id="image" name="image" required autocomplete="off" spellcheck="false"
        placeholder="demo/app:1" aria-describedby="image-help">
      <button type="submit">Inspect</button>
    </div>
    <p id="image-help" class="help">A repository of this registry (<code>demo/app:1</code>,
      <code>HOST/demo/app@sha256:…</code>), or a public image when the server can pull one.</p>
  </form>
  <p id="inspect-status" class="status" role="status" aria-live="polite"></p>
  <p id="inspect-error" class="error" role="alert" hidden></p>

  <div id="result" hidden>
    <dl id="summary" class="summary"></dl>
    <div class="columns">
      <section aria-labelledby="stack-title" class="stack-col">
        <h3 id="stack-title">Layers <span class="help">(top of the stack first)</span></h3>
        <ol id="stack" class="stack"></ol>
      </section>
      <section aria-labelledby="tree-title" class="tree-col">
        <h3 id="tree-title">Merged file tree</h3>
        <div class="filters">
          <div>
            <label for="path-filter">Filter paths</label>
            <input id="path-filter" type="search" autocomplete="off" spellcheck="false"
              placeholder="e.g. etc/">
          </div>
          <div>
            <label for="layer-filter">From layer</label>
            <select id="layer-filter"><option value="">All layers</option></select>
          </div>
          <div class="check">
            <input id="show-deleted" type="checkbox" checked>
            <label for="show-deleted">Show deleted paths (whiteouts)</label>
          </div>
        </div>
        <p id="tree-count" class="status" role="status" aria-live="polite"></p>
        <div class="table-wrap">
          <table id="tree">
            <caption class="visually-hidden">Paths of the merged file tree and the layer each comes from</caption>
            <thead><tr>
              <th scope="col">Path</th><th scope="col">Type</th><th scope="col">Mode</th>
              <th scope="col" class="num">Size</th><th scope="col">Layer</th>
            </tr></thead>
            <tbody id="tree-body"></tbody>
          </table>
        </div>
      </section>
    </div>
  </div>
</section>

<section aria-labelledby="dockerfile-title">
  <h2 id="dockerfile-title">Try a Dockerfile</h2>
  <form id="dockerfile-form">
    <label for="dockerfile">Dockerfile</label>
    <div class="editor">
      <pre id="gutter" class="gutter" aria-hidden="true">1</pre>
      <textarea id="dockerfile" rows="12" spellcheck="false" autocomplete="off"
        aria-describedby="dockerfile-help">FROM scratch
COPY hello.txt /hello.txt
ENV GREETING=hello
CMD ["/hello.txt"]
</textarea>
    </div>
    <p id="dockerfile-help" class="help">Checked as you type, the way BuildKit parses it.</p>
    <div class="row">
      <button type="submit">Parse</button>
    </div>
    <p id="parse-status" class="status" role="status" aria-live="polite"></p>
    <div id="parse-errors" class="error" role="alert"></div>
    <ol id="instructions" class="instructions" aria-label="Parsed instructions"></ol>
    <fieldset>
      <legend>Build it here (no RUN)</legend>
      <div class="row wrap">
        <div>
          <label for="context-files">Context files</label>
          <input id="context-files" type="file" multiple>
        </div>
        <div>
          <label for="build-tag">Tag</label>
          <input id="build-tag" autocomplete="off" spellcheck="false" placeholder="demo/hello:1">
        </div>
        <button type="button" id="build-button">Build</button>
      </div>
      <p id="build-status" class="status" role="status" aria-live="polite"></p>
      <div id="build-error" class="error" role="alert"></div>
    </fieldset>
  </form>
</section>
</main>
</body>
</html>
`;

/** The page's stylesheet. */
export const DEMO_CSS: string = `
:root { --fg: #1d1f21; --muted: #5c6166; --line: #d6d9dc; --bg: #fff; --panel: #f6f7f8;
  --bad: #b00020; --focus: #1a5fb4; color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header, main { max-width: 1280px; margin: 0 auto; padding: 0 1rem; }
header h1 { margin: 1rem 0 0; font-size: 1.6rem; }
header p { margin: .2rem 0 1rem; color: var(--muted); }
h2 { font-size: 1.25rem; border-bottom: 1px solid var(--line); padding-bottom: .3rem; }
h3 { font-size: 1.05rem; margin: .6rem 0; }
section { margin-bottom: 1.5rem; }
label { font-weight: 600; display: block; margin-bottom: .2rem; }
.check label { display: inline; font-weight: normal; }
input, select, textarea, button { font: inherit; }
input[type=search], input:not([type]), select { padding: .35rem .5rem; border: 1px solid #8a9096;
  border-radius: 4px; }
#image { flex: 1; min-width: 16rem; font-family: ui-monospace, monospace; }
button { padding: .35rem .9rem; border: 1px solid #1a5fb4; background: #1a5fb4; color: #fff;
  border-radius: 4px; cursor: pointer; }
button.link { background: none; color: var(--focus); border: none; padding: 0; text-decoration: underline; }
button.secondary { background: #fff; color: #1a5fb4; }
button[aria-pressed=true] { background: #0d3a73; color: #fff; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.row { display: flex; gap: .5rem; align-items: end; }
.row.wrap { flex-wrap: wrap; }
.help { color: var(--muted); font-size: .9rem; margin: .3rem 0; font-weight: normal; }
.status { color: var(--muted); min-height: 1.2em; margin: .4rem 0; }
.error { color: var(--bad); }
.error:empty { display: none; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .88em; }
.summary { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem;
  background: var(--panel); padding: .6rem .8rem; border-radius: 6px; margin: .5rem 0 1rem; }
.summary dt { font-weight: 600; }
.summary dd { margin: 0; overflow-wrap: anywhere; white-space: pre-line; font-family: ui-monospace, monospace; font-size: .88em; }
.columns { display: grid; grid-template-columns: minmax(20rem, 2fr) 3fr; gap: 1.2rem; }
@media (max-width: 900px) { .columns { grid-template-columns: 1fr; } }
.stack { list-style: none; margin: 0; padding: 0; }
.stack li { margin-bottom: .4rem; }
.layer { border: 1px solid var(--line); border-left: 8px solid hsl(var(--h) 60% 50%);
  border-radius: 6px; padding: .5rem .7rem; background: #fff; }
.layer-head { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
.layer-head .size { margin-left: auto; font-weight: 600; }
.bar { height: 4px; background: hsl(var(--h) 60% 50%); border-radius: 2px; margin: .3rem 0; min-width: 2px; }
.created-by { display: block; white-space: pre-wrap; overflow-wrap: anywhere; margin: .25rem 0;
  color: #333; max-height: 6.5em; overflow: auto; }
.counts { display: flex; flex-wrap: wrap; gap: .2rem 1rem; margin: .2rem 0; font-size: .9rem; }
.counts div { display: flex; gap: .3rem; }
.counts dt { color: var(--muted); }
.counts dd { margin: 0; }
.wasted dd { color: #8a4b00; font-weight: 600; }
.whiteouts { margin: .3rem 0 0; padding-left: 1.2rem; font-size: .9rem; }
.step { color: var(--muted); font-size: .85rem; padding: .1rem .7rem; }
.badge { display: inline-block; min-width: 2.2em; text-align: center; padding: 0 .35em; border-radius: 4px;
  background: hsl(var(--h) 60% 88%); border: 1px solid hsl(var(--h) 50% 45%); color: #111;
  font-family: ui-monospace, monospace; font-size: .85em; font-weight: 600; }
.filters { display: flex; flex-wrap: wrap; gap: .6rem 1rem; align-items: end; }
.table-wrap { max-height: 70vh; overflow: auto; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th { position: sticky; top: 0; background: var(--panel); text-align: left; }
th, td { padding: .2rem .5rem; border-bottom: 1px solid #eceef0; white-space: nowrap; }
td.path { font-family: ui-monospace, monospace; white-space: pre; }
td.num, th.num { text-align: right; }
tr.deleted td { color: var(--bad); }
tr.deleted td.path { text-decoration: line-through; }
.muted { color: var(--muted); }
.editor { display: flex; border: 1px solid #8a9096; border-radius: 4px; overflow: hidden;
  max-width: 60rem; }
.gutter { margin: 0; padding: .4rem .4rem; background: var(--panel); color: var(--muted);
  text-align: right; user-select: none; min-width: 2.8em; overflow: hidden;
  font: 14px/1.4 ui-monospace, monospace; }
.gutter .bad { color: #fff; background: var(--bad); display: inline-block; width: 100%; }
#dockerfile { flex: 1; border: none; padding: .4rem .5rem; resize: vertical;
  font: 14px/1.4 ui-monospace, monospace; white-space: pre; overflow: auto; }
fieldset { border: 1px solid var(--line); border-radius: 6px; margin: .8rem 0; max-width: 60rem; }
.instructions { font-family: ui-monospace, monospace; font-size: .9rem; padding-left: 0; list-style: none; }
.instructions .line { color: var(--muted); display: inline-block; min-width: 4.5em; }
.instructions .kw { font-weight: 700; }
.warning { color: #8a4b00; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
`;
