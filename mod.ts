/**
 * stratum: a daemonless container-image toolkit. This entry re-exports every module;
 * each is also importable on its own (`@stratum/stratum/storage`, ...).
 *
 * @module
 */
export * from "./digest/mod.ts";
export * from "./image/mod.ts";
export * from "./storage/mod.ts";
