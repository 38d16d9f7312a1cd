/**
 * WORKDIR: sets the working directory and, as BuildKit does, creates it (`mkdir -p` inside
 * the root, owned by the current USER) in a layer of its own. `/` adds no layer.
 *
 * @module
 */
import type { PlannedEntry } from "../copy_plan.ts";
import { resolveChown, rootPath } from "../copy_source.ts";
import { addHistory, cleanAbsolute } from "../instructions.ts";
import { nextState, type Step, type StepContext, viewOf, writeLayer } from "./step.ts";

/** Prepares `WORKDIR dir` (already expanded and resolved against the current one). */
export function workdirStep(ctx: StepContext, dir: string): Step {
  const { session } = ctx;
  const user = ctx.state.image.config?.User ?? "";
  const predict = () => {
    const state = nextState(ctx);
    (state.image.config ??= {}).WorkingDir = dir;
    return state;
  };
  return {
    components: { parent: ctx.key, instruction: `WORKDIR ${dir}`, args: { user } },
    predict,
    async execute() {
      const state = predict();
      const clean = cleanAbsolute(dir);
      if (clean === "/") {
        addHistory(state.image, `WORKDIR ${dir}`, session.iso(), true);
        return { state, layers: ctx.layers };
      }
      const view = viewOf(ctx, [clean], user !== "");
      const owner = user === "" ? { uid: 0, gid: 0 } : await resolveChown(user, view);
      // BuildKit's mkdir -p goes to where the path leads inside the root (RootPath): a
      // symlink on the way is followed, a dangling one has its target made. The config
      // keeps the path as written; a RUN's working directory resolves the same way.
      const resolved = await rootPath(view, clean);
      if (resolved.stat && resolved.stat.type !== "directory") {
        throw new Error(
          `Cannot create WORKDIR ${dir}: "/${resolved.path}" is a ${resolved.stat.type}`,
        );
      }
      const entries: PlannedEntry[] = [];
      const now = session.now();
      const parts = resolved.stat ? [] : resolved.path.split("/");
      for (let i = 1; i <= parts.length; i++) {
        const path = parts.slice(0, i).join("/");
        const existing = await view.lstat(path);
        if (existing?.type === "directory") {
          // The deepest existing directory gets the new one: its time changes.
          if (!(await view.lstat(parts.slice(0, i + 1).join("/")))) {
            entries.push({
              path,
              type: "directory",
              mode: existing.mode,
              uid: existing.uid,
              gid: existing.gid,
              mtime: now,
              size: 0,
              linkTarget: "",
            });
          }
          continue;
        }
        if (existing) {
          throw new Error(`Cannot create WORKDIR ${dir}: "/${path}" is a ${existing.type}`);
        }
        entries.push({
          path,
          type: "directory",
          mode: 0o755,
          ...owner,
          mtime: now,
          size: 0,
          linkTarget: "",
        });
      }
      const layer = await writeLayer(session, entries);
      addHistory(state.image, `WORKDIR ${dir}`, session.iso(), false);
      return { state, layers: [...ctx.layers, layer] };
    },
  };
}
