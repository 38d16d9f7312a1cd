/**
 * `stratum inspect`: docker's image inspect JSON, or `-f TEMPLATE` rendered per image.
 *
 * @module
 */
import { dockerInspectComment, dockerInspectConfig, parseReference } from "../image/mod.ts";
import { familiarTag } from "../storage/mod.ts";
import { type CommandContext, need, str } from "./_context.ts";
import { userTemplate } from "./_format.ts";
import { nilMap, nilSlice } from "./_template_values.ts";
import { store, unpackedSize } from "./_store.ts";

/** Runs `stratum inspect`. */
export async function run(ctx: CommandContext): Promise<number | void> {
  need(ctx.args, 1, "at least 1 argument");
  const format = str(ctx.values.format);
  // A bad template fails before any image is read, as docker's does.
  const template = format ? userTemplate(format) : undefined;
  const s = await store(ctx);
  const out = [];
  const records = await s.tags.list();
  for (const a of ctx.args) {
    const img = await s.resolve(a);
    const same = records.filter((r) =>
      r.descriptor.digest === img.manifestDigest || r.descriptor.digest === img.indexDigest
    );
    const c = img.config;
    out.push({
      Id: img.id,
      RepoTags: same.filter((r) => !r.name.includes("@")).map((r) => familiarTag(r.name)),
      RepoDigests: same.filter((r) => r.name.includes("@") && !r.name.startsWith("@")).map(
        (r) => {
          const ref = parseReference(r.name);
          return `${ref.familiarName}@${ref.digest}`;
        },
      ),
      Parent: "",
      Comment: dockerInspectComment(c),
      Created: c.created ?? "",
      DockerVersion: str((c as unknown as Record<string, unknown>).docker_version) ?? "",
      Author: c.author ?? "",
      Config: dockerInspectConfig(c.config),
      Architecture: c.architecture,
      ...(c.variant ? { Variant: c.variant } : {}),
      Os: c.os,
      Size: await unpackedSize(s, img),
      RootFS: { Type: c.rootfs.type, Layers: c.rootfs.diff_ids },
      Descriptor: {
        mediaType: img.descriptor.mediaType,
        digest: img.manifestDigest,
        size: img.descriptor.size,
      },
    });
  }
  if (template) { for (const o of out) ctx.out(template.execute(typed(o))); }
  else ctx.out(JSON.stringify(out, null, 4));
}

const SLICES = ["Env", "Cmd", "Entrypoint", "OnBuild", "Shell"];
const MAPS = ["ExposedPorts", "Volumes", "Labels"];
const STRINGS = ["Hostname", "Domainname", "User", "Image", "WorkingDir", "StopSignal"];
const BOOLS = ["AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce"];
const POINTERS = ["Healthcheck", "StopTimeout"];

/**
 * The inspect data as a template sees docker's typed `ImageInspect`: an unset field of
 * `Config` is Go's zero value (`[]` for a slice, `map[]` for a map, `""`, `false`, `<nil>` for
 * a pointer), not a missing key, while `{{json .Config.Cmd}}` still says `null`.
 */
function typed(o: Record<string, unknown>): Record<string, unknown> {
  const config = { ...(o.Config as Record<string, unknown> | null ?? {}) };
  // A field docker's JSON leaves out (omitempty) stays out of `{{json .Config}}`: it is
  // there for `.Field` but not enumerable.
  const zero = (keys: string[], value: () => unknown) => {
    for (const k of keys) {
      if (!Object.hasOwn(config, k)) {
        Object.defineProperty(config, k, { value: value(), enumerable: false });
      } else if (config[k] === null) config[k] = value();
    }
  };
  zero(SLICES, nilSlice);
  zero(MAPS, nilMap);
  zero(STRINGS, () => "");
  zero(BOOLS, () => false);
  zero(POINTERS, () => null);
  return { ...o, Config: config };
}
