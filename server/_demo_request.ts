/**
 * How the demo app reads a build request (`/api/build`): a multipart form, a context tar
 * (maybe gzipped) or a bare Dockerfile, and its refusals. Private to server/.
 *
 * @module
 */
import { openLayer, TarFormatError } from "../unionfs/mod.ts";
import { type BodyLimits, readAll } from "./_body.ts";

/** A refusal with its status, sent as `{ error, code, line? }`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: { line?: number; endLine?: number; headers?: Record<string, string> } = {},
  ) {
    super(message);
  }
}

/** What a build request asks for. */
export interface BuildInput {
  dockerfile: string;
  tag?: string;
  context: Map<string, Uint8Array>;
}

/** Reads `/api/build`'s body: multipart/form-data, a tar (maybe gzipped), or a Dockerfile. */
export async function readBuildRequest(
  request: Request,
  url: URL,
  bodyLimits: BodyLimits,
): Promise<BuildInput> {
  const type = (request.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  const bytes = await readAll(request.body, bodyLimits);
  const tag = url.searchParams.get("tag") ?? undefined;
  if (type === "multipart/form-data") {
    return await readMultipart(bytes, request.headers.get("content-type")!, tag);
  }
  if (
    ["application/x-tar", "application/tar", "application/gzip", "application/x-gzip"]
      .includes(type)
  ) {
    const name = cleanContextPath(
      url.searchParams.get("dockerfile") ?? "Dockerfile",
      "?dockerfile",
    );
    const context = await readTarContext(bytes);
    const dockerfile = context.get(name);
    if (!dockerfile) {
      throw new ApiError(400, "DOCKERFILE_MISSING", `The context tar has no "${name}"`);
    }
    return { dockerfile: new TextDecoder().decode(dockerfile), tag, context };
  }
  if (type === "" || type.startsWith("text/")) {
    return { dockerfile: new TextDecoder().decode(bytes), tag, context: new Map() };
  }
  throw new ApiError(
    415,
    "CONTENT_TYPE_UNSUPPORTED",
    `Cannot build from a "${type}" body: send multipart/form-data, application/x-tar or ` +
      `a Dockerfile as text/plain`,
  );
}

async function readMultipart(
  bytes: Uint8Array,
  contentType: string,
  queryTag: string | undefined,
): Promise<BuildInput> {
  let form: FormData;
  try {
    form = await new Response(bytes as Uint8Array<ArrayBuffer>, {
      headers: { "content-type": contentType },
    }).formData();
  } catch (e) {
    throw new ApiError(400, "FORM_INVALID", `Cannot read the form: ${(e as Error).message}`);
  }
  let dockerfile: string | undefined;
  let tag = queryTag;
  const context = new Map<string, Uint8Array>();
  for (const [field, value] of form) {
    if (field === "dockerfile") {
      // Form encoding turns every line break of a text field into CRLF; a file part is exact.
      dockerfile = typeof value === "string" ? value.replaceAll("\r\n", "\n") : await value.text();
    } else if (field === "tag" && typeof value === "string") {
      tag = value.trim() || tag;
    } else if (field === "context" && typeof value !== "string") {
      const path = cleanContextPath(value.name, `context file "${value.name}"`);
      context.set(path, new Uint8Array(await value.arrayBuffer()));
    } else {
      throw new ApiError(
        400,
        "FORM_INVALID",
        `Unexpected form field "${field}": send "dockerfile", "tag" and files as "context"`,
      );
    }
  }
  if (dockerfile === undefined) {
    throw new ApiError(400, "DOCKERFILE_MISSING", `The form has no "dockerfile" field`);
  }
  return { dockerfile, tag, context };
}

async function readTarContext(bytes: Uint8Array): Promise<Map<string, Uint8Array>> {
  const context = new Map<string, Uint8Array>();
  const source = {
    digest: "the build context tar",
    open: () => Promise.resolve(new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()),
  };
  try {
    for await (const { header, body } of openLayer(source)) {
      if (header.type === "directory") {
        await body.cancel();
        continue;
      }
      const path = cleanContextPath(header.name, `context tar entry "${header.name}"`);
      if (header.type !== "file") {
        await body.cancel();
        throw new ApiError(
          400,
          "CONTEXT_INVALID",
          `Context tar entry "${header.name}" is a ${header.type}; only files and directories ` +
            `are supported`,
        );
      }
      context.set(path, new Uint8Array(await new Response(body).arrayBuffer()));
    }
  } catch (e) {
    if (e instanceof ApiError) throw e;
    if (e instanceof TarFormatError || e instanceof SyntaxError || e instanceof RangeError) {
      throw new ApiError(400, "CONTEXT_INVALID", `Cannot read the context tar: ${e.message}`);
    }
    throw e;
  }
  return context;
}

/** A context path made relative and clean; one that climbs out of the context is refused. */
function cleanContextPath(name: string, what: string): string {
  const parts = name.replaceAll("\\", "/").split("/").filter((p) => p !== "" && p !== ".");
  if (parts.length === 0 || parts.includes("..")) {
    throw new ApiError(400, "CONTEXT_INVALID", `Invalid path for ${what}: "${name}"`);
  }
  return parts.join("/");
}
