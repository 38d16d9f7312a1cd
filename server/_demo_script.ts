/**
 * The demo page's script, kept as a string like the page itself (`_demo_page.ts`). Data
 * from the server reaches the DOM only through `textContent`, never as markup.
 */

/** The page's script (no template literals inside, so it sits in one here). */
export const DEMO_JS: string = String.raw`"use strict";
(function () {
  var MAX_ROWS = 2000;
  var state = { data: null, rows: [], layer: "" };

  function $(id) { return document.getElementById(id); }
  function el(tag, props, children) {
    var e = document.createElement(tag);
    if (props) for (var k in props) {
      if (k === "text") e.textContent = props[k];
      else if (k === "class") e.className = props[k];
      else e.setAttribute(k, props[k]);
    }
    (children || []).forEach(function (c) {
      if (c !== null && c !== undefined) e.append(c);
    });
    return e;
  }
  // The CLI's humanSize (docker's units.HumanSize): decimal units, three significant
  // digits, so the page and "stratum images" print the same "1.07GB" for the same image.
  function bytes(n) {
    var units = ["B", "kB", "MB", "GB", "TB", "PB"];
    var i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return String(Number(n.toPrecision(3))) + units[i];
  }
  // A Go duration as a Dockerfile flag writes it ("30s", "1m30s") from nanoseconds.
  function goDuration(ns) {
    if (!ns) return "0s";
    var s = ns / 1e9;
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), rest = s % 60;
    return (h ? h + "h" : "") + (h || m ? m + "m" : "") +
      (rest || !(h || m) ? Number(rest.toPrecision(9)) + "s" : "");
  }
  // One HEALTHCHECK as its Dockerfile line, from the test and the flags that are set.
  function healthcheckLine(test, flags) {
    if (!test || !test.length) return "HEALTHCHECK (inherited)";
    if (test[0] === "NONE") return "HEALTHCHECK NONE";
    var f = flags.filter(function (x) { return x; }).join(" ");
    var cmd = test[0] === "CMD-SHELL" ? "CMD " + test.slice(1).join(" ")
      : "CMD " + JSON.stringify(test.slice(1));
    return "HEALTHCHECK " + (f ? f + " " : "") + cmd;
  }
  // The image config's Healthcheck (durations in nanoseconds) as a Dockerfile line.
  function healthcheckText(h) {
    function flag(name, v) { return v ? "--" + name + "=" + goDuration(v) : ""; }
    return healthcheckLine(h.Test, [flag("interval", h.Interval), flag("timeout", h.Timeout),
      flag("start-period", h.StartPeriod), flag("start-interval", h.StartInterval),
      h.Retries ? "--retries=" + h.Retries : ""]);
  }
  // BuildKit records some steps as Go values ("HEALTHCHECK &{[\"CMD\" \"x\"] \"30s\" ...}",
  // "EXPOSE map[80/tcp:{}]"), as docker history shows them; the page shows what was written.
  function readableStep(text) {
    if (!text) return text;
    text = text.replace(/ # buildkit$/, "");
    var hc = /^HEALTHCHECK &\{\[(.*?)\] "([^"]*)" "([^"]*)" "([^"]*)"(?: "([^"]*)")? '(?:\\x([0-9a-f]{2})|(.))'\}$/
      .exec(text);
    if (hc) {
      var test = (hc[1].match(/"(?:[^"\\]|\\.)*"/g) || []).map(function (q) {
        try { return JSON.parse(q); } catch (_) { return q.slice(1, -1); }
      });
      var retries = hc[6] !== undefined ? parseInt(hc[6], 16) : hc[7].charCodeAt(0);
      function flag(name, v) { return v && v !== "0s" ? "--" + name + "=" + v : ""; }
      return healthcheckLine(test, [flag("interval", hc[2]), flag("timeout", hc[3]),
        flag("start-period", hc[4]), flag("start-interval", hc[5]),
        retries ? "--retries=" + retries : ""]);
    }
    var ex = /^EXPOSE map\[(.*)\]$/.exec(text);
    if (ex) return "EXPOSE " + ex[1].split(" ").map(function (p) { return p.replace(/:\{\}$/, ""); }).join(" ");
    return text;
  }
  // A parsed instruction's arguments as they read in a Dockerfile: ENV and LABEL pairs as
  // k=v, ARG as name[=default], JSON forms as JSON (after HEALTHCHECK's CMD word).
  function argsText(ins) {
    var args = ins.args;
    if (ins.json) {
      if (ins.keyword === "healthcheck") return args[0] + " " + JSON.stringify(args.slice(1));
      return JSON.stringify(args);
    }
    return args.map(function (a) {
      if (typeof a === "string") return a;
      if (a && typeof a.key === "string") return a.key + "=" + a.value;
      if (a && typeof a.name === "string") {
        return a.name + (a.default !== undefined && a.default !== null ? "=" + a.default : "");
      }
      return JSON.stringify(a);
    }).join(" ");
  }
  function short(digest) { return digest ? digest.replace(/^sha256:/, "").slice(0, 12) : ""; }
  function hue(layer) { return (layer * 137 + 200) % 360; }
  function badge(layer) {
    var b = el("span", { class: "badge", text: "L" + layer, title: "layer " + layer });
    b.style.setProperty("--h", String(hue(layer)));
    return b;
  }
  function modeString(type, mode) {
    var first = { directory: "d", symlink: "l", char: "c", block: "b", fifo: "p" }[type] || "-";
    var s = "";
    var bits = "rwxrwxrwx";
    for (var i = 0; i < 9; i++) s += (mode & (256 >> i)) ? bits[i] : "-";
    if (mode & 2048) s = s.slice(0, 2) + (s[2] === "x" ? "s" : "S") + s.slice(3);
    if (mode & 1024) s = s.slice(0, 5) + (s[5] === "x" ? "s" : "S") + s.slice(6);
    if (mode & 512) s = s.slice(0, 8) + (s[8] === "x" ? "t" : "T");
    return first + s;
  }
  function typeName(t) {
    return { directory: "dir", file: "file", symlink: "symlink", char: "char dev",
      block: "block dev", fifo: "fifo" }[t] || t;
  }
  function comparePaths(a, b) {
    var x = a.split("/"), y = b.split("/");
    for (var i = 0; i < Math.min(x.length, y.length); i++) {
      if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
    }
    return x.length - y.length;
  }
  async function getJson(res) {
    var text = await res.text();
    try { return JSON.parse(text); } catch (_) { return { error: text || res.statusText }; }
  }

  // ---- inspecting an image ----
  async function inspect(ref) {
    $("inspect-error").hidden = true;
    $("inspect-status").textContent = "Inspecting " + ref + "…";
    var res;
    try {
      res = await fetch("/api/inspect?image=" + encodeURIComponent(ref));
    } catch (e) {
      return fail("Cannot reach the server: " + e.message);
    }
    var body = await getJson(res);
    if (!res.ok) return fail(body.error || ("HTTP " + res.status));
    $("inspect-status").textContent = "Inspected " + body.reference + ": " + body.layers.length +
      " layers, " + body.treeTotal + " paths.";
    history.replaceState(null, "", "#image=" + encodeURIComponent(ref));
    show(body);
  }
  function fail(message) {
    $("inspect-status").textContent = "";
    $("inspect-error").textContent = message;
    $("inspect-error").hidden = false;
  }

  function show(data) {
    state.data = data;
    state.layer = "";
    renderSummary(data);
    renderStack(data);
    var select = $("layer-filter");
    select.replaceChildren(el("option", { value: "", text: "All layers" }));
    data.layers.forEach(function (l) {
      select.append(el("option", { value: String(l.index), text: "L" + l.index + " — " +
        (readableStep(l.createdBy) || short(l.digest)).slice(0, 60) }));
    });
    state.rows = treeRows(data);
    renderTree();
    $("result").hidden = false;
  }

  function renderSummary(d) {
    var dl = $("summary");
    dl.replaceChildren();
    function add(term, value) {
      if (value === undefined || value === null || value === "") return;
      dl.append(el("dt", { text: term }), el("dd", { text: value }));
    }
    add("Reference", d.reference + (d.source === "remote" ? " (pulled from its registry)" : ""));
    add("Manifest digest", d.manifestDigest);
    add("Image ID", d.id);
    add("Platform", d.platform);
    add("Created", d.created);
    add("Size", bytes(d.size) + " in " + d.layers.length + " layers");
    var wasted = d.layers.reduce(function (n, l) { return n + l.wastedBytes; }, 0);
    add("Wasted", bytes(wasted) + " of file content hidden by later layers");
    if (d.config.entrypoint) add("Entrypoint", JSON.stringify(d.config.entrypoint));
    if (d.config.cmd) add("Cmd", JSON.stringify(d.config.cmd));
    if (d.config.env && d.config.env.length) add("Env", d.config.env.join("\n"));
    add("Workdir", d.config.workingDir);
    add("User", d.config.user);
    if (d.config.exposedPorts && d.config.exposedPorts.length) {
      add("Exposed ports", d.config.exposedPorts.join(" "));
    }
    if (d.config.healthcheck) add("Healthcheck", healthcheckText(d.config.healthcheck));
    if (d.config.labels) {
      add("Labels", Object.keys(d.config.labels).map(function (k) {
        return k + "=" + d.config.labels[k];
      }).join("\n"));
    }
    if (d.source === "local") add("Pull", "docker pull " + d.reference);
  }

  function counts(c) {
    return c.files + (c.files === 1 ? " file" : " files") + (c.bytes ? ", " + bytes(c.bytes) : "");
  }

  function renderStack(d) {
    var items = [];
    var mapped = 0;
    d.history.forEach(function (h) {
      if (h.layer === null) items.push({ step: h });
      else if (h.layer < d.layers.length) { items.push({ layer: d.layers[h.layer] }); mapped++; }
    });
    for (var i = mapped; i < d.layers.length; i++) items.push({ layer: d.layers[i] });
    var biggest = Math.max(1, Math.max.apply(null, d.layers.map(function (l) { return l.size; })));
    var ol = $("stack");
    ol.replaceChildren();
    items.reverse().forEach(function (it) {
      if (it.step) {
        ol.append(el("li", { class: "step" }, [
          el("span", { text: "no layer: " }),
          el("code", { text: readableStep(it.step.createdBy) || "(no command recorded)" }),
        ]));
        return;
      }
      var l = it.layer;
      var li = el("li", { class: "layer", "data-layer": String(l.index) });
      li.style.setProperty("--h", String(hue(l.index)));
      var btn = el("button", { type: "button", class: "secondary", "aria-pressed": "false",
        text: "Show its files", "aria-label": "Show only files from layer " + l.index });
      btn.addEventListener("click", function () {
        var on = state.layer !== String(l.index);
        setLayer(on ? String(l.index) : "");
      });
      var bar = el("div", { class: "bar", "aria-hidden": "true" });
      bar.style.width = Math.max(1, Math.round(100 * l.size / biggest)) + "%";
      var dl = el("dl", { class: "counts" }, [
        el("div", null, [el("dt", { text: "Added" }), el("dd", { text: counts(l.added) })]),
        el("div", null, [el("dt", { text: "Changed" }), el("dd", { text: counts(l.modified) })]),
        el("div", null, [el("dt", { text: "Removed" }), el("dd", { text: counts(l.removed) })]),
        el("div", { class: "wasted" }, [
          el("dt", { text: "Wasted" }), el("dd", { text: bytes(l.wastedBytes) }),
        ]),
      ]);
      var wh = null;
      if (l.whiteouts.length) {
        wh = el("ul", { class: "whiteouts", "aria-label": "Whiteouts of layer " + l.index });
        l.whiteouts.forEach(function (w) {
          var from = w.hides.length ? " (hides " + w.hides.map(function (i) { return "L" + i; })
            .join(", ") + ")" : " (hides nothing)";
          wh.append(el("li", null, [
            el("span", { text: w.opaque ? "empties " : "deletes " }),
            el("code", { text: "/" + w.path + (w.opaque ? "/" : "") }),
            el("span", { class: "muted", text: from }),
          ]));
        });
      }
      li.append(
        el("div", { class: "layer-head" }, [
          badge(l.index),
          el("span", { class: "mono", title: l.digest, text: short(l.digest) }),
          btn,
          el("span", { class: "size", text: bytes(l.size) }),
        ]),
        bar,
        el("code", { class: "created-by", text: readableStep(l.createdBy) || "(no history entry)" }),
        dl,
      );
      if (wh) li.append(wh);
      ol.append(el("li", null, [li]));
    });
  }

  function treeRows(d) {
    var present = new Set(d.tree.map(function (e) { return e.path; }));
    var rows = d.tree.map(function (e) { return { e: e }; });
    d.layers.forEach(function (l) {
      l.whiteouts.forEach(function (w) {
        if (w.opaque || !w.hides.length || present.has(w.path)) return;
        present.add(w.path);
        rows.push({ deleted: w, by: l.index, e: { path: w.path, layer: l.index } });
      });
    });
    rows.sort(function (a, b) { return comparePaths(a.e.path, b.e.path); });
    return rows;
  }

  function setLayer(value) {
    state.layer = value;
    $("layer-filter").value = value;
    document.querySelectorAll("#stack button[aria-pressed]").forEach(function (b) {
      var li = b.closest("[data-layer]");
      b.setAttribute("aria-pressed", String(li && li.dataset.layer === value));
    });
    renderTree();
  }

  var pending = 0;
  function scheduleTree() {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(renderTree);
  }

  function renderTree() {
    var d = state.data;
    if (!d) return;
    var q = $("path-filter").value.trim().toLowerCase().replace(/^\/+/, "");
    var showDeleted = $("show-deleted").checked;
    var layer = state.layer === "" ? null : Number(state.layer);
    var matching = state.rows.filter(function (r) {
      if (r.deleted && !showDeleted) return false;
      if (layer !== null && r.e.layer !== layer) return false;
      return !q || r.e.path.toLowerCase().indexOf(q) >= 0;
    });
    var flat = q !== "" || layer !== null;
    var body = $("tree-body");
    var frag = document.createDocumentFragment();
    matching.slice(0, MAX_ROWS).forEach(function (r) {
      var e = r.e;
      var depth = e.path.split("/").length - 1;
      var name = flat ? "/" + e.path : e.path.split("/").pop();
      var pathCell = el("td", { class: "path", title: "/" + e.path });
      if (r.deleted) {
        pathCell.append(el("del", { text: name }));
        frag.append(el("tr", { class: "deleted" }, [
          pathCell, el("td", { text: "deleted" }), el("td"), el("td", { class: "num" }),
          el("td", null, [badge(r.by), el("span", { text: " whiteout" })]),
        ]));
      } else {
        pathCell.textContent = name + (e.type === "directory" ? "/" : "");
        if (e.type === "symlink") pathCell.append(el("span", { class: "muted", text: " → " + e.link }));
        frag.append(el("tr", null, [
          pathCell,
          el("td", { text: typeName(e.type) }),
          el("td", { class: "mono", text: modeString(e.type, e.mode) }),
          el("td", { class: "num", text: e.type === "file" ? bytes(e.size) : "" }),
          el("td", null, [badge(e.layer)]),
        ]));
      }
      if (!flat) pathCell.style.paddingLeft = (0.5 + depth * 1.1) + "em";
    });
    body.replaceChildren(frag);
    var total = d.treeTotal > d.tree.length
      ? " The server sent " + d.tree.length + " of " + d.treeTotal + " paths." : "";
    $("tree-count").textContent = (matching.length > MAX_ROWS
      ? "Showing " + MAX_ROWS + " of " + matching.length + " matching paths; narrow the filter."
      : matching.length + " matching paths.") + total;
  }

  // ---- Dockerfile box ----
  var parseTimer = 0;
  var badLines = new Set();
  function renderGutter() {
    var n = $("dockerfile").value.split("\n").length;
    var g = $("gutter");
    g.replaceChildren();
    for (var i = 1; i <= n; i++) {
      var s = el("span", { text: String(i) });
      if (badLines.has(i)) s.className = "bad";
      g.append(s, "\n");
    }
    g.scrollTop = $("dockerfile").scrollTop;
  }
  function jumpToLine(line) {
    var ta = $("dockerfile");
    var lines = ta.value.split("\n");
    var start = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
    ta.focus();
    ta.setSelectionRange(start, start + (lines[line - 1] || "").length);
  }
  async function parse() {
    var text = $("dockerfile").value;
    var res;
    try {
      res = await fetch("/api/parse", { method: "POST", body: text,
        headers: { "content-type": "text/plain" } });
    } catch (e) {
      $("parse-status").textContent = "Cannot reach the server: " + e.message;
      return;
    }
    if (text !== $("dockerfile").value) return; // a newer parse is on its way
    var body = await getJson(res);
    var errors = $("parse-errors");
    var list = $("instructions");
    errors.replaceChildren();
    list.replaceChildren();
    badLines = new Set();
    if (!res.ok) {
      $("parse-status").textContent = "The Dockerfile has an error.";
      var msg = el("p", null, [el("span", { text: body.error })]);
      if (body.line) {
        for (var i = body.line; i <= (body.endLine || body.line); i++) badLines.add(i);
        var go = el("button", { type: "button", class: "link", text: "Go to line " + body.line });
        go.addEventListener("click", function () { jumpToLine(body.line); });
        msg.append(" ", go);
      }
      errors.append(msg);
      renderGutter();
      return;
    }
    $("parse-status").textContent = "Parsed " + body.instructions.length + " instructions" +
      (body.warnings.length ? ", " + body.warnings.length + " warnings." : ".");
    body.instructions.forEach(function (ins) {
      var lines = ins.startLine === ins.endLine ? "L" + ins.startLine
        : "L" + ins.startLine + "–" + ins.endLine;
      var args = argsText(ins);
      var flags = ins.flags && ins.flags.length ? ins.flags.join(" ") + " " : "";
      list.append(el("li", null, [
        el("span", { class: "line", text: lines }),
        el("span", { class: "kw", text: ins.keyword.toUpperCase() + " " }),
        el("span", { text: flags + args }),
      ]));
    });
    body.warnings.forEach(function (w) {
      list.append(el("li", { class: "warning" }, [
        el("span", { class: "line", text: "L" + w.line }),
        el("span", { text: "warning: " + w.message }),
      ]));
    });
    renderGutter();
  }
  async function build() {
    var fd = new FormData();
    fd.append("dockerfile", $("dockerfile").value);
    var tag = $("build-tag").value.trim();
    if (tag) fd.append("tag", tag);
    Array.from($("context-files").files).forEach(function (f) {
      fd.append("context", f, f.webkitRelativePath || f.name);
    });
    $("build-status").textContent = "Building…";
    $("build-error").replaceChildren();
    var res;
    try {
      res = await fetch("/api/build", { method: "POST", body: fd });
    } catch (e) {
      $("build-status").textContent = "Cannot reach the server: " + e.message;
      return;
    }
    var body = await getJson(res);
    if (!res.ok) {
      $("build-status").textContent = "";
      var p = el("p", { text: body.error || ("HTTP " + res.status) });
      if (body.line) {
        var go = el("button", { type: "button", class: "link", text: " Go to line " + body.line });
        go.addEventListener("click", function () { jumpToLine(body.line); });
        p.append(" ", go);
      }
      $("build-error").append(p);
      return;
    }
    $("build-status").textContent = "Built " + body.reference + " (" + short(body.manifestDigest) +
      "); docker pull " + body.reference;
    $("image").value = body.reference;
    inspect(body.reference);
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("inspect-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var ref = $("image").value.trim();
      if (ref) inspect(ref);
    });
    $("path-filter").addEventListener("input", scheduleTree);
    $("show-deleted").addEventListener("change", scheduleTree);
    $("layer-filter").addEventListener("change", function () { setLayer($("layer-filter").value); });
    var ta = $("dockerfile");
    ta.addEventListener("input", function () {
      renderGutter();
      clearTimeout(parseTimer);
      parseTimer = setTimeout(parse, 400);
    });
    ta.addEventListener("scroll", function () { $("gutter").scrollTop = ta.scrollTop; });
    $("dockerfile-form").addEventListener("submit", function (ev) { ev.preventDefault(); parse(); });
    $("build-button").addEventListener("click", build);
    renderGutter();
    var m = /^#image=(.+)$/.exec(location.hash);
    if (m) {
      $("image").value = decodeURIComponent(m[1]);
      inspect($("image").value);
    }
  });
})();
`;
