/**
 * COPY and ADD: the sources (context paths, another stage or image with `--from`, heredocs,
 * URLs for ADD) are matched and hashed for the key before the cache lookup; on a miss
 * `copy.ts` plans the entries against the stage's root and they are written as a layer.
 *
 * @module
 */
import { sha256 } from "../../digest/mod.ts";
import type { InputStream, KeyComponents } from "../build_cache.ts";
import { parseChmod } from "../chmod_mode.ts";
import { contextInputs } from "../context_inputs.ts";
import { fetchUrl, matchSource, planCopy } from "../copy.ts";
import type { InlineSource } from "../copy_plan.ts";
import { contextFs, resolveChown, resolvePath, type SourceFs, TreeFs } from "../copy_source.ts";
import { CopyError, DockerfileSyntaxError } from "../errors.ts";
import { addHistory, copyCreatedBy } from "../instructions.ts";
import type { CopyInstruction } from "../dockerfile_types.ts";
import { parseHeredocWord } from "../heredoc.ts";
import type { CopyFlags } from "../instruction_flags.ts";
import { fromSource, imageLayers } from "../session.ts";
import { expandWord } from "../word_expansion.ts";
import { nextState, type Step, type StepContext, viewOf, writeLayer } from "./step.ts";

/** The flags with word expansion applied to their values, as BuildKit expands them. */
function expandFlags(flags: CopyFlags, word: (w: string) => string): CopyFlags {
  const opt = (v: string | undefined) => (v === undefined ? undefined : word(v));
  return {
    from: opt(flags.from),
    chown: opt(flags.chown),
    chmod: opt(flags.chmod),
    parents: flags.parents,
    exclude: flags.exclude.map(word),
    checksum: opt(flags.checksum),
    link: flags.link,
  };
}

/** Prepares a COPY or an ADD as a step. */
export async function copyStep(
  ctx: StepContext,
  instruction: CopyInstruction,
  env: Record<string, string>,
): Promise<Step> {
  const { session } = ctx;
  const keyword = instruction.keyword === "add" ? "ADD" : "COPY";
  const escapeToken = session.escapeToken;
  const word = (w: string) => expandWord(w, env, { escapeToken });
  const flags = expandFlags(instruction.copyFlags, word);
  const raw = instruction.args;
  const expanded = instruction.json ? raw.map(word) : raw.flatMap((w) => {
    if (parseHeredocWord(w)) return [w];
    return [word(w)]; // one word each, empty or with blanks, as BuildKit's ProcessWord gives
  });
  if (expanded.length < 2) {
    throw new DockerfileSyntaxError(
      `${keyword} requires at least two arguments`,
      instruction.startLine,
    );
  }
  const dest = expanded.at(-1)!;
  const inline: InlineSource[] = [];
  const sources: string[] = [];
  const inputs: Record<string, string> = {};
  const urls: string[] = [];
  const mtime = session.now();
  for (const source of expanded.slice(0, -1)) {
    const heredoc = instruction.json ? undefined : parseHeredocWord(source);
    if (heredoc) {
      const body = instruction.heredocs.find((h) => h.name === heredoc.name);
      if (!body) throw new CopyError(`${keyword} failed: no heredoc body for "${heredoc.name}"`);
      let content = body.chomp ? body.content.replace(/^\t+/gm, "") : body.content;
      if (body.expand) content = expandHeredoc(content, env, escapeToken);
      const bytes = new TextEncoder().encode(content);
      inline.push({ name: heredoc.name, bytes, mode: 0o644, mtime });
      inputs[`heredoc:${heredoc.name}`] = await sha256(bytes);
    } else if (/^https?:\/\//.test(source) && keyword === "ADD") {
      urls.push(source);
    } else if (/^https?:\/\//.test(source)) {
      throw new CopyError(`COPY failed: source can't be a URL for COPY: "${source}"`);
    } else {
      sources.push(source);
    }
  }
  if (flags.checksum !== undefined && urls.length === 0) {
    throw new CopyError(`ADD failed: --checksum can only be used with an HTTP(S) source`);
  }
  for (const url of urls) {
    const fetched = await fetchUrl(url, flags.checksum, session.options.fetch);
    inline.push({
      name: fetched.name,
      bytes: fetched.bytes,
      mode: 0o600,
      mtime: fetched.mtime ?? mtime,
    });
    inputs[`url:${url}`] = fetched.digest;
  }
  let from: SourceFs;
  let matches: string[][] | undefined;
  let streamed: InputStream | undefined;
  if (flags.from !== undefined) {
    const source = await fromSource(session, flags.from, ctx.stage.index);
    if (source.kind === "stage") {
      from = new TreeFs(
        session.options.store.blobs,
        source.result.layers,
        `stage "${source.name}"`,
        {
          spool: session.tmp,
        },
      ).asSource();
      inputs[`stage:${source.name}`] = source.result.key;
    } else {
      const { image } = source;
      inputs[`image:${source.name}`] = image?.manifestDigest ?? "not in the store";
      from = new TreeFs(
        session.options.store.blobs,
        image ? imageLayers(image) : [],
        `image "${source.name}"`,
        {
          spool: session.tmp,
        },
      ).asSource();
    }
  } else {
    from = contextFs(session.context);
    const matched: string[] = [];
    matches = [];
    for (const s of sources) {
      const m = await matchSource(from, s);
      matches.push(m);
      // A wildcard that matches nothing is skipped (BuildKit's AllowEmptyWildcard).
      if (m.length === 1 && !(await from.lstat(m[0])) && !(await resolvePath(from, m[0], true))) {
        throw new CopyError(
          `${keyword} failed: file not found in build context or excluded by .dockerignore: "${s}"`,
        );
      }
      matched.push(...m);
    }
    streamed = await contextInputs(session.context, matched);
  }
  const flagText = [
    flags.chown !== undefined ? `--chown=${flags.chown}` : "",
    flags.chmod !== undefined ? `--chmod=${flags.chmod}` : "",
    flags.parents ? "--parents" : "",
    flags.link ? "--link" : "",
    ...flags.exclude.map((e) => `--exclude=${e}`),
    flags.from !== undefined ? `--from=${flags.from}` : "",
  ].filter((f) => f !== "").join(" ");
  const components: KeyComponents = {
    parent: ctx.key,
    instruction: `${keyword} ${flagText} ${JSON.stringify(expanded)} workdir=${
      ctx.state.image.config?.WorkingDir ?? ""
    }`,
    inputs,
    streamed,
  };
  const chmod = flags.chmod === undefined ? undefined : parseChmod(flags.chmod);
  return {
    components,
    predict: () => nextState(ctx),
    async execute() {
      const state = nextState(ctx);
      const workdir = ctx.state.image.config?.WorkingDir || "/";
      const view = viewOf(
        ctx,
        [dest.startsWith("/") ? dest : `${workdir}/${dest}`],
        flags.chown !== undefined,
      );
      const chown = flags.chown !== undefined ? await resolveChown(flags.chown, view) : undefined;
      let layer;
      try {
        const plan = await planCopy(from, view, {
          keyword,
          sources,
          matches,
          inline,
          dest,
          workdir,
          chown,
          chmod,
          parents: flags.parents,
          exclude: flags.exclude,
          now: session.now(),
          sourceDateEpoch: session.options.sourceDateEpoch,
          spool: session.tmp,
        });
        layer = await writeLayer(session, plan.entries);
      } finally {
        // A stage's or image's layers read for their bodies, and its spool, are let go.
        await from.close?.();
      }
      addHistory(state.image, copyCreatedBy(keyword, expanded), session.iso(), false);
      return { state, layers: [...ctx.layers, layer] };
    },
  };
}

/** Expands variables in a heredoc body as a here-document does: quotes and escapes stay. */
function expandHeredoc(
  content: string,
  env: Record<string, string>,
  escapeToken: "\\" | "`",
): string {
  return expandWord(content, env, { escapeToken, rawQuotes: true, rawEscapes: true });
}
