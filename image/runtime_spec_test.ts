// The conversion's cases come from umoci's test/config.bats (each `umoci config ...` then
// `umoci unpack` check) and the user resolution's from moby/sys user_test.go
// (TestValidGetExecUser, TestInvalidGetExecUser, TestGetExecUserNilSources), which umoci
// runs through; those use runc's defaults of 8888, umoci passes none, so 0 and "" here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError } from "./errors.ts";
import type { ContainerConfig, ImageConfig } from "./image_config.ts";
import {
  type ExecUser,
  hostId,
  parseIdMapping,
  resolveExecUser,
  runtimeSpec,
  type RuntimeSpecOptions,
} from "./runtime_spec.ts";

function image(config: ContainerConfig = {}, extra: Partial<ImageConfig> = {}): ImageConfig {
  return {
    architecture: "amd64",
    os: "linux",
    config,
    rootfs: { type: "layers", diff_ids: [] },
    ...extra,
  };
}

const PASSWD = `
root:x:0:0:root user:/root:/bin/bash
adm:x:42:43:adm:/var/adm:/bin/false
111:x:222:333::/var/garbage
odd:x:111:112::/home/odd:::::
user7456:x:7456:100:Vasya:/home/user7456
this is just some garbage data
`;
const LARGE_GROUP = "largegroup:x:1000:user1" +
  Array.from({ length: 7499 }, (_, i) => `,user${i + 2}`).join("");
const GROUP = `
root:x:0:root
adm:x:43:
grp:x:1234:root,adm,user7456
444:x:555:111
odd:x:444:
this is just some garbage data
${LARGE_GROUP}`;

test("resolveExecUser() resolves names, IDs and groups as runc's GetExecUser", () => {
  const cases: [string, ExecUser][] = [
    ["root", { uid: 0, gid: 0, additionalGids: [0, 1234], home: "/root" }],
    ["adm", { uid: 42, gid: 43, additionalGids: [1234], home: "/var/adm" }],
    ["root:adm", { uid: 0, gid: 43, additionalGids: [], home: "/root" }],
    ["adm:1234", { uid: 42, gid: 1234, additionalGids: [], home: "/var/adm" }],
    ["42:1234", { uid: 42, gid: 1234, additionalGids: [], home: "/var/adm" }],
    ["1337:1234", { uid: 1337, gid: 1234, additionalGids: [], home: "" }],
    ["1337", { uid: 1337, gid: 0, additionalGids: [], home: "" }],
    // No user: root, with root's passwd entry and groups.
    ["", { uid: 0, gid: 0, additionalGids: [0, 1234], home: "/root" }],
    // A numeric spec is always an ID: "111" is odd's uid, not the user named "111".
    ["111", { uid: 111, gid: 112, additionalGids: [], home: "/home/odd" }],
    ["111:444", { uid: 111, gid: 444, additionalGids: [], home: "/home/odd" }],
    // A member of a group with a very long member list.
    ["7456", { uid: 7456, gid: 100, additionalGids: [1234, 1000], home: "/home/user7456" }],
  ];
  for (const [spec, want] of cases) {
    assert.deepEqual(resolveExecUser(spec, PASSWD, GROUP), want, spec);
  }
});

test("resolveExecUser() refuses unknown names and out-of-range IDs", () => {
  const passwd = "root:x:0:0:root user:/root:/bin/bash\nadm:x:42:43:adm:/var/adm:/bin/false\n" +
    "-42:x:12:13:broken:/very/broken\nthis is just some garbage data\n";
  const group = "root:x:0:root\nadm:x:43:\ngrp:x:1234:root,adm\nthis is just some garbage data\n";
  for (
    const spec of [
      "notuser",
      "notuser:notgroup",
      "root:notgroup",
      "notuser:adm",
      "8888:notgroup",
      "notuser:8888",
      "-1:0",
      "0:-3",
      "-5:-2",
      "-42",
      "-43",
      "2147483648",
    ]
  ) {
    assert.throws(
      () => resolveExecUser(spec, passwd, group),
      (e) => e instanceof ConfigError && e.field === "config.User",
      spec,
    );
  }
});

test("resolveExecUser() without passwd or group files takes numeric specs as they are", () => {
  assert.deepEqual(resolveExecUser(""), { uid: 0, gid: 0, additionalGids: [], home: "" });
  assert.deepEqual(resolveExecUser("root", "root:x:0:0:root user:/root:/bin/bash\n"), {
    uid: 0,
    gid: 0,
    additionalGids: [],
    home: "/root",
  });
  assert.deepEqual(resolveExecUser("0"), { uid: 0, gid: 0, additionalGids: [], home: "" });
  assert.deepEqual(resolveExecUser("1337:8888"), {
    uid: 1337,
    gid: 8888,
    additionalGids: [],
    home: "",
  });
  assert.throws(
    () => resolveExecUser("app"),
    /no user "app" in the image's \/etc\/passwd \(it has none\)/,
  );
  assert.throws(() => resolveExecUser("0:staff"), /no group "staff" in the image's \/etc\/group/);
});

// umoci's config.bats appends these to its test image's files.
const BATS_PASSWD = "root:x:0:0:root:/root:/bin/sh\n" +
  "testuser:x:1337:8888:test user:/my home dir :/bin/sh\n";
const BATS_GROUP = "root:x:0:\ntestgroup:x:2581:root,testuser\ngroup:x:9001:testuser\n" +
  "emptygroup:x:2222:\n";
const files: RuntimeSpecOptions = { passwd: BATS_PASSWD, group: BATS_GROUP };
const envOf = (env: string[]) => Object.fromEntries(env.map((e) => e.split(/=(.*)/s, 2)));

test('runtimeSpec() runs as config.User "user": its ids, groups and HOME', () => {
  const spec = runtimeSpec(image({ User: "testuser" }), files);
  assert.deepEqual(spec.process.user, { uid: 1337, gid: 8888, additionalGids: [2581, 9001] });
  assert.equal(envOf(spec.process.env).HOME, "/my home dir ");
  const rootless = runtimeSpec(image({ User: "testuser" }), { ...files, rootless: true });
  assert.deepEqual(rootless.process.user, { uid: 1337, gid: 8888 });
});

test('runtimeSpec() runs as "user:group" with no supplementary groups', () => {
  const spec = runtimeSpec(image({ User: "testuser:emptygroup" }), files);
  assert.deepEqual(spec.process.user, { uid: 1337, gid: 2222 });
  assert.equal(envOf(spec.process.env).HOME, "/my home dir ");
  // The same spec, against files that changed: the ids come from the rootfs.
  const changed = runtimeSpec(image({ User: "testuser:emptygroup" }), {
    passwd: "testuser:x:3333:2321:a:/another  home:\n",
    group: "emptygroup:x:4444:\n",
  });
  assert.deepEqual(changed.process.user, { uid: 3333, gid: 4444 });
  assert.equal(envOf(changed.process.env).HOME, "/another  home");
});

test("runtimeSpec() refuses a user the image does not have", () => {
  assert.throws(() => runtimeSpec(image({ User: "testuser:emptygroup" })), ConfigError);
});

test("runtimeSpec() takes a numeric user as it is", () => {
  const spec = runtimeSpec(image({ User: "1337:8888" }));
  assert.deepEqual(spec.process.user, { uid: 1337, gid: 8888 });
});

test("runtimeSpec() sets cwd from WorkingDir, else /", () => {
  assert.equal(
    runtimeSpec(image({ WorkingDir: "/a/fake/directory" })).process.cwd,
    "/a/fake/directory",
  );
  assert.equal(runtimeSpec(image()).process.cwd, "/");
});

test("runtimeSpec() with no Env keeps PATH and TERM and adds HOME", () => {
  const spec = runtimeSpec(image(), files);
  assert.deepEqual(spec.process.env, [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "TERM=xterm",
    "HOME=/root",
  ]);
});

test("runtimeSpec() sets Env over the defaults, each name once", () => {
  const spec = runtimeSpec(
    image({ Env: ["PATH=/bin", "VARIABLE2=what", "VARIABLE1=test", "HOME=/h", "E=a=b"] }),
    files,
  );
  assert.deepEqual(spec.process.env, [
    "PATH=/bin",
    "TERM=xterm",
    "VARIABLE2=what",
    "VARIABLE1=test",
    "HOME=/h", // the image's HOME wins over the passwd entry's
    "E=a=b",
  ]);
  assert.throws(() => runtimeSpec(image({ Env: ["=x"] })), /config\.Env\[0\]/);
});

test("runtimeSpec() makes args of Entrypoint + Cmd, or sh when both are empty", () => {
  const args = (c: ContainerConfig) => runtimeSpec(image(c)).process.args;
  const entrypoint = ["sh", "/here is some values/"];
  const cmd = ["-c", "ls -la", "kek"];
  assert.deepEqual(args({ Cmd: cmd }), cmd);
  assert.deepEqual(args({ Entrypoint: entrypoint }), entrypoint);
  assert.deepEqual(args({ Entrypoint: ["sh"], Cmd: ["-c", "ls -la"] }), ["sh", "-c", "ls -la"]);
  assert.deepEqual(args({ Cmd: ["cat", "/this is a file with spaces", "-v"] }), [
    "cat",
    "/this is a file with spaces",
    "-v",
  ]);
  assert.deepEqual(args({}), ["sh"]);
  assert.deepEqual(args({ Entrypoint: [], Cmd: [] }), ["sh"]);
});

test("runtimeSpec() mounts each volume as a tmpfs, sorted", () => {
  const spec = runtimeSpec(
    image({ Volumes: { "/volume": {}, "/some nutty/path name/ here": {}, "/..final_volume": {} } }),
  );
  const volumes = spec.mounts.filter((m) => m.source === "none");
  assert.deepEqual(volumes.map((m) => m.destination), [
    "/..final_volume",
    "/some nutty/path name/ here",
    "/volume",
  ]);
  assert.deepEqual(volumes[0], {
    destination: "/..final_volume",
    type: "tmpfs",
    source: "none",
    options: ["rw", "nosuid", "nodev", "noexec", "relatime"],
  });
});

test("runtimeSpec() annotates the platform, leaving out what is empty", () => {
  const a = (extra: Partial<ImageConfig>) => runtimeSpec(image({}, extra)).annotations;
  assert.deepEqual(a({ architecture: "" }), { "org.opencontainers.image.os": "linux" });
  assert.deepEqual(a({ architecture: "mips64" }), {
    "org.opencontainers.image.os": "linux",
    "org.opencontainers.image.architecture": "mips64",
  });
  assert.deepEqual(a({ architecture: "arm64", variant: "v9" }), {
    "org.opencontainers.image.os": "linux",
    "org.opencontainers.image.architecture": "arm64",
    "org.opencontainers.image.variant": "v9",
  });
  assert.throws(() => a({ os: "windows" }), /OS "windows"/);
});

test("runtimeSpec() annotates author and created (as Go prints the time)", () => {
  const a = (created: string) =>
    runtimeSpec(image({}, { author: "Aleksa Sarai <cyphar@cyphar.com>", created })).annotations;
  const got = a("2016-03-25T12:34:02.655002+11:00");
  assert.equal(got["org.opencontainers.image.author"], "Aleksa Sarai <cyphar@cyphar.com>");
  assert.equal(got["org.opencontainers.image.created"], "2016-03-25T12:34:02.655002+11:00");
  assert.equal(
    a("2024-01-01T00:00:00.500000000Z")["org.opencontainers.image.created"],
    "2024-01-01T00:00:00.5Z",
  );
  assert.equal(
    a("2024-01-01T00:00:00.000+00:00")["org.opencontainers.image.created"],
    "2024-01-01T00:00:00Z",
  );
  assert.equal(runtimeSpec(image()).annotations["org.opencontainers.image.created"], undefined);
});

test("runtimeSpec() copies labels over the annotations, empty values too", () => {
  const spec = runtimeSpec(
    image({
      Labels: {
        "com.cyphar.test": "1",
        "com.cyphar.empty": "",
        "org.opencontainers.image.os": "x",
      },
    }),
  );
  assert.equal(spec.annotations["com.cyphar.test"], "1");
  assert.equal(spec.annotations["com.cyphar.empty"], "");
  assert.equal(spec.annotations["org.opencontainers.image.os"], "x");
});

test("runtimeSpec() annotates exposed ports (sorted) and the stop signal", () => {
  const spec = runtimeSpec(
    image({ ExposedPorts: { "2000": {}, "8080/tcp": {}, "1234/tcp": {} }, StopSignal: "SIGUSR1" }),
  );
  assert.equal(spec.annotations["org.opencontainers.image.exposedPorts"], "1234/tcp,2000,8080/tcp");
  assert.equal(spec.annotations["org.opencontainers.image.stopSignal"], "SIGUSR1");
});

test("runtimeSpec() starts from the default spec: namespaces, mounts, capabilities", () => {
  const spec = runtimeSpec(image());
  // Go's field order, as specs-go writes a config.json.
  assert.deepEqual(Object.keys(spec), [
    "ociVersion",
    "process",
    "root",
    "hostname",
    "mounts",
    "annotations",
    "linux",
  ]);
  assert.equal(spec.process.terminal, false);
  assert.equal(spec.root.path, "rootfs");
  assert.deepEqual(spec.linux.namespaces.map((n) => n.type), [
    "cgroup",
    "pid",
    "network",
    "ipc",
    "uts",
    "mount",
  ]);
  assert.deepEqual(spec.mounts.map((m) => m.destination), [
    "/proc",
    "/dev",
    "/dev/pts",
    "/dev/shm",
    "/dev/mqueue",
    "/sys",
    "/sys/fs/cgroup",
  ]);
  assert.deepEqual(spec.process.capabilities.bounding, [
    "CAP_AUDIT_WRITE",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
  ]);
  assert.equal(spec.process.noNewPrivileges, true);
  assert.deepEqual(spec.linux.resources, { devices: [{ allow: false, access: "rwm" }] });
  assert.equal(spec.linux.uidMappings, undefined);
});

test("runtimeSpec() with ID mappings adds a user namespace", () => {
  const m = [{ containerID: 0, hostID: 100000, size: 65536 }];
  const spec = runtimeSpec(image(), { uidMappings: m, gidMappings: m });
  assert.deepEqual(spec.linux.namespaces.at(-1), { type: "user" });
  assert.equal(spec.linux.namespaces.filter((n) => n.type === "user").length, 1);
  assert.deepEqual(spec.linux.uidMappings, m);
  assert.deepEqual(spec.linux.gidMappings, m);
  assert.deepEqual(Object.keys(spec.linux).slice(0, 2), ["uidMappings", "gidMappings"]);
  assert.ok(spec.linux.namespaces.some((n) => n.type === "network"));
});

test("runtimeSpec() rootless: user namespace, no network, sysfs bound, no uid=/gid=", () => {
  const m = [{ containerID: 0, hostID: 1000, size: 1 }];
  const spec = runtimeSpec(image({ Volumes: { "/sysdata": {}, "/v": {} } }), {
    uidMappings: m,
    gidMappings: m,
    rootless: true,
    resolvConfOptions: ["nosuid", "nodev"],
  });
  assert.deepEqual(spec.linux.namespaces.map((n) => n.type), [
    "cgroup",
    "pid",
    "ipc",
    "uts",
    "mount",
    "user",
  ]);
  assert.equal(spec.linux.resources, undefined);
  assert.deepEqual(spec.linux.uidMappings, m);
  // Every mount under /sys (a string prefix, as umoci has it) makes way for the host's sysfs.
  assert.deepEqual(spec.mounts.map((m) => m.destination), [
    "/proc",
    "/dev",
    "/dev/pts",
    "/dev/shm",
    "/dev/mqueue",
    "/v",
    "/sys",
    "/etc/resolv.conf",
  ]);
  assert.deepEqual(spec.mounts.find((m) => m.destination === "/dev/pts")?.options, [
    "nosuid",
    "noexec",
    "newinstance",
    "ptmxmode=0666",
    "mode=0620",
  ]);
  assert.deepEqual(spec.mounts.at(-2), {
    destination: "/sys",
    type: "bind",
    source: "/sys",
    options: ["rbind", "nosuid", "noexec", "nodev", "ro"],
  });
  assert.deepEqual(spec.mounts.at(-1), {
    destination: "/etc/resolv.conf",
    type: "bind",
    source: "/etc/resolv.conf",
    options: ["nosuid", "nodev", "rbind", "ro"],
  });
  // A host without /etc/resolv.conf gets no bind of it, and the rest is still converted.
  const none = runtimeSpec(image(), { rootless: true });
  assert.equal(none.mounts.at(-1)?.destination, "/sys");
});

test("parseIdMapping() reads container:host[:size]", () => {
  assert.deepEqual(parseIdMapping("0:1000"), { containerID: 0, hostID: 1000, size: 1 });
  assert.deepEqual(parseIdMapping("0:100000:65536"), {
    containerID: 0,
    hostID: 100000,
    size: 65536,
  });
  for (const bad of ["", "0", "0:1:2:3", "a:1", "0:-1", "0:1:4294967296", "0:1:1.5"]) {
    assert.throws(() => parseIdMapping(bad), SyntaxError, bad);
  }
});

test("hostId() maps through the ranges, or gives undefined outside them", () => {
  const m = [{ containerID: 0, hostID: 100000, size: 1000 }, {
    containerID: 5000,
    hostID: 7,
    size: 1,
  }];
  assert.equal(hostId(0, m), 100000);
  assert.equal(hostId(999, m), 100999);
  assert.equal(hostId(5000, m), 7);
  assert.equal(hostId(1000, m), undefined);
  assert.equal(hostId(1000, []), 1000);
});
