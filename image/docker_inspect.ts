import type { ContainerConfig, ImageConfig } from "./image_config.ts";

/**
 * An image's `Config` as `docker inspect` shows it: Docker's container.Config struct, so
 * every field it always writes is there (`"Entrypoint": null`, `"Image": ""`, ...) in its
 * order, and the `omitempty` ones (ExposedPorts, Healthcheck, ArgsEscaped, StopSignal,
 * Shell) only when set. Values come from the image config; keys it does not know are kept
 * after Docker's.
 *
 * @example
 * ```ts
 * import { dockerInspectConfig } from "./docker_inspect.ts";
 * const view = dockerInspectConfig({ Cmd: ["sh"] });
 * if (view.Entrypoint !== null || view.Hostname !== "") throw new Error();
 * ```
 */
export function dockerInspectConfig(config: ContainerConfig | undefined): Record<string, unknown> {
  const c: Record<string, unknown> = { ...config };
  const take = (key: string, fallback: unknown) => {
    const value = c[key];
    delete c[key];
    return value === undefined || value === null ? fallback : value;
  };
  const optional = (out: Record<string, unknown>, key: string) => {
    const value = c[key];
    delete c[key];
    const empty = value === undefined || value === null || value === false || value === "" ||
      (typeof value === "object" && Object.keys(value as object).length === 0);
    if (!empty) out[key] = value;
  };
  const out: Record<string, unknown> = {
    Hostname: take("Hostname", ""),
    Domainname: take("Domainname", ""),
    User: take("User", ""),
    AttachStdin: take("AttachStdin", false),
    AttachStdout: take("AttachStdout", false),
    AttachStderr: take("AttachStderr", false),
  };
  optional(out, "ExposedPorts");
  out.Tty = take("Tty", false);
  out.OpenStdin = take("OpenStdin", false);
  out.StdinOnce = take("StdinOnce", false);
  out.Env = take("Env", null);
  out.Cmd = take("Cmd", null);
  optional(out, "Healthcheck");
  optional(out, "ArgsEscaped");
  out.Image = take("Image", "");
  out.Volumes = take("Volumes", null);
  out.WorkingDir = take("WorkingDir", "");
  out.Entrypoint = take("Entrypoint", null);
  optional(out, "NetworkDisabled");
  optional(out, "MacAddress");
  out.OnBuild = take("OnBuild", null);
  out.Labels = take("Labels", null);
  optional(out, "StopSignal");
  optional(out, "StopTimeout");
  optional(out, "Shell");
  return { ...out, ...c };
}

/**
 * The `Comment` `docker inspect` shows: the config's own `comment`, else the comment of the
 * last history entry (`buildkit.dockerfile.v0` for a BuildKit build), else `""`.
 */
export function dockerInspectComment(image: ImageConfig): string {
  const own = (image as unknown as { comment?: unknown }).comment;
  if (typeof own === "string" && own !== "") return own;
  return image.history?.at(-1)?.comment ?? "";
}
