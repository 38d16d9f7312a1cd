/**
 * Front-end speed: parses a generated 5,000-line Dockerfile, checks that parse time grows
 * linearly (5k vs 50k lines), and matches a .dockerignore against a 100,000-path context.
 * Everything is generated in memory. Prints one line per measurement.
 *
 * Run: `npx -y deno@2.9.6 run -A bench/parse_bench.ts`
 *
 * @module
 */
import { filterContext, parseDockerfile } from "../builder/mod.ts";

/** A Dockerfile of about `lines` lines mixing every common shape of instruction. */
function dockerfile(lines: number): string {
  const out = ["# syntax=docker/dockerfile:1", "ARG BASE=alpine:3.19", "FROM ${BASE} AS build"];
  for (let i = 0; out.length < lines; i++) {
    switch (i % 8) {
      case 0:
        out.push(
          `RUN --mount=type=cache,target=/root/.cache apk add \\`,
          `    pkg${i} \\`,
          `    && true`,
        );
        break;
      case 1:
        out.push(`ENV KEY_${i}="value ${i}" OTHER_${i}=x\\ y`);
        break;
      case 2:
        out.push(`COPY --chown=1000:1000 --link src/${i}/ /app/${i}/`);
        break;
      case 3:
        out.push(`RUN <<EOF`, `echo ${i}`, `EOF`);
        break;
      case 4:
        out.push(`CMD ["/bin/app", "--id", "${i}"]`);
        break;
      case 5:
        out.push(`# comment ${i}`, `LABEL org.example.n${i}="${i}"`);
        break;
      case 6:
        out.push(`HEALTHCHECK --interval=30s CMD wget -q -O- http://localhost:${i}/ || exit 1`);
        break;
      default:
        out.push(`FROM build AS s${i}`, `WORKDIR /work/${i}`);
    }
  }
  return out.slice(0, lines).join("\n") + "\n";
}

/** Median wall time of `fn` in milliseconds over `runs` runs (after one warm-up). */
function time(fn: () => void, runs: number): number {
  fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

const small = dockerfile(5_000);
const large = dockerfile(50_000);
// Warm both sizes first so the JIT has compiled the parser before either is timed.
parseDockerfile(large);
const smallMs = time(() => parseDockerfile(small), 30);
const largeMs = time(() => parseDockerfile(large), 7);
const instructions = parseDockerfile(small).instructions.length;
console.log(
  `parse 5,000 lines (${instructions} instructions): ${smallMs.toFixed(2)} ms median` +
    ` (${(5_000 / smallMs).toFixed(0)} lines/ms)`,
);
console.log(`parse 50,000 lines: ${largeMs.toFixed(2)} ms median`);
console.log(
  `parse linearity: 10x the lines took ${(largeMs / smallMs).toFixed(2)}x the time (linear = 10x)`,
);

const paths: string[] = ["Dockerfile", ".dockerignore"];
for (let i = 0; paths.length < 100_000; i++) {
  const dir = ["src", "node_modules", "docs", "build", "test"][i % 5];
  paths.push(`${dir}/pkg${i % 997}/sub${i % 13}/file${i}.${["ts", "js", "md", "log"][i % 4]}`);
}
const ignore = [
  "# generated",
  "node_modules",
  "**/*.log",
  "build/",
  "docs/**",
  "!docs/pkg1/**",
  "test/*/sub[0-3]",
  "*.tmp",
].join("\n");
let included = 0;
const matchMs = time(() => {
  included = filterContext(paths, "Dockerfile", () => ignore).length;
}, 5);
console.log(
  `.dockerignore (7 patterns) over ${paths.length.toLocaleString("en")} paths: ` +
    `${matchMs.toFixed(2)} ms median, ${included.toLocaleString("en")} paths sent`,
);
