/**
 * The reference build of `build_bench.ts` and `build_ab.ts`: one Dockerfile, so that the A/B
 * of two checkouts and the comparison with BuildKit time the same work.
 *
 * @module
 */

/** The reference Dockerfile on `base`: a 30,000-file COPY, a RUN that touches files, metadata. */
export function referenceDockerfile(base: string): string {
  return `FROM ${base}
ENV APP=/app MODE=bench
WORKDIR /app
COPY files/ /app/files/
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox find /app/files -name 'f1*' | /bin/busybox xargs /bin/busybox touch && echo done > /app/stamp"]
LABEL org.example.bench=build
EXPOSE 8080
USER 1000
CMD ["/bin/busybox", "ls", "/app"]
`;
}
