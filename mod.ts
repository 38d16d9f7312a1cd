/**
 * stratum: a daemonless container-image toolkit. Each module is also importable on its own.
 * @module
 */
export * from "./digest/mod.ts";
