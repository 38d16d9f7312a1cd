/**
 * A `node:` built-in module, or `null` where the runtime has none (an edge runtime).
 * `process.getBuiltinModule` comes first: the single executable is a CommonJS bundle, in
 * which `import()` fails, and so would every optional built-in loaded that way.
 */
export async function builtin<T>(name: `node:${string}`): Promise<T | null> {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } })
    .process;
  try {
    const mod = proc?.getBuiltinModule?.(name);
    if (mod) return mod as T;
  } catch {
    // Not there: try import() below.
  }
  try {
    return await import(name) as T;
  } catch {
    return null;
  }
}
