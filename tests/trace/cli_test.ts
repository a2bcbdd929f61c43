/**
 * `rampart trace` and `rampart graph` as operators run them: in-process with
 * an injected environment (policy files, and "live" tables behind a fake
 * runner), as a whole `deno run cli.ts` process, and against the real kernel
 * of a namespace holding our rules beside other programs'.
 */
import assert from "assert";
import { type CliEnvironment, EXIT_CODES, runCli } from "../../cli.ts";
import { FakeDataplane } from "../../testing.ts";
import type { CommandRunner } from "../../mod.ts";
import { kernelTest, nsExec, rampart, restoreScript } from "../kernel/netns.ts";

const RULES = new URL("../../examples/rules.yaml", import.meta.url).pathname;
const OFFICE = new URL("../../examples/office.yaml", import.meta.url).pathname;

function fakeEnv(
  options: { runner?: CommandRunner; terminal?: boolean; noColor?: boolean } = {},
): CliEnvironment & { out: string; err: string; netns: (string | undefined)[] } {
  const env = {
    out: "",
    err: "",
    netns: [] as (string | undefined)[],
    stdout(t: string) {
      env.out += t;
    },
    stderr(t: string) {
      env.err += t;
    },
    interactive: false,
    stdoutIsTerminal: options.terminal === true,
    ask: () => Promise.resolve(undefined),
    runnerFor(netns: string | undefined): CommandRunner {
      env.netns.push(netns);
      if (options.runner === undefined) throw new Error("no kernel in this test");
      return options.runner;
    },
    env: (name: string) => name === "NO_COLOR" && options.noColor === true ? "1" : undefined,
    uid: 0,
  };
  return env;
}

/** A host: the fake's iptables, plus `ip -j address show` and `ipset save`. */
function host(fake: FakeDataplane, addresses: string[], ipsetSave = ""): CommandRunner {
  return {
    run(cmd, args, opts) {
      if (cmd === "ip" && args.join(" ") === "-j address show") {
        const info = addresses.map((a) => {
          const [local, prefixlen] = a.split("/");
          return { local, prefixlen: Number(prefixlen) };
        });
        return Promise.resolve({
          code: 0,
          stdout: JSON.stringify([{ ifname: "eth0", addr_info: info }]),
          stderr: "",
        });
      }
      if (cmd === "ipset" && args[0] === "save") {
        return Promise.resolve({ code: 0, stdout: ipsetSave, stderr: "" });
      }
      return fake.runner.run(cmd, args, opts);
    },
  };
}

const ESC = "\x1b[";
const WEB = ["--in", "eth0", "--src", "203.0.113.7", "--dst", "192.0.2.10", "--dport", "443"];

Deno.test("trace FILES: the path with rule IDs and file:line, plain when not a terminal", async () => {
  const env = fakeEnv();
  const code = await runCli(["trace", RULES, ...WEB, "--assume", "rpfilter=no-match"], env);
  assert.equal(code, EXIT_CODES.OK, env.err);
  assert.ok(!env.out.includes(ESC));
  const lines = env.out.split("\n");
  assert.match(lines[0]!, /^rules: .*rules\.yaml \(as apply would write them, nft\)$/);
  assert.equal(lines[1], "packet: tcp 203.0.113.7 → 192.0.2.10:443 in eth0, NEW");
  assert.match(lines[2]!, /^verdict: ACCEPT by filter rp-input rule 6 \(.*rules\.yaml:81\)$/);
  assert.match(env.out, /filter INPUT #1 {2}-A INPUT -j rp-input {2}→ jump rp-input/);
  // The rule-ID comment is on its own line, not repeated in the rule text.
  assert.match(env.out, /-A rp-input -p tcp -m comment --comment web -m multiport --dports 80,443/);
  assert.match(env.out, /rule ID [\w-]{16} · .*rules\.yaml:81/);
  assert.deepEqual(env.netns, [], "no kernel is read for files");
});

Deno.test("trace: colours with --color always or a terminal; NO_COLOR and --json turn them off", async () => {
  for (
    const [flags, options, coloured] of [
      [["--color", "always"], {}, true],
      [[], { terminal: true }, true],
      [[], { terminal: true, noColor: true }, false],
      [["--color", "never"], { terminal: true }, false],
    ] as const
  ) {
    const env = fakeEnv(options);
    assert.equal(await runCli(["trace", OFFICE, ...WEB, ...flags], env), 0, env.err);
    assert.equal(env.out.includes(ESC), coloured, `${flags.join(" ")} ${JSON.stringify(options)}`);
  }
  const env = fakeEnv({ terminal: true });
  await runCli(["trace", OFFICE, ...WEB, "--json"], env);
  assert.ok(!env.out.includes(ESC));
});

Deno.test("trace --json: one document with the verdict, the deciding step and the path", async () => {
  const env = fakeEnv();
  const code = await runCli([
    "trace",
    OFFICE,
    "--in",
    "eth0",
    "--src",
    "203.0.113.7",
    "--dst",
    "192.0.2.10",
    "--proto",
    "tcp",
    "--dport",
    "23",
    "--json",
  ], env);
  assert.equal(code, 0, env.out);
  assert.equal(env.out.trim().split("\n").length, 1);
  const doc = JSON.parse(env.out);
  assert.equal(doc.ok, true);
  assert.equal(doc.verdict, "REJECT");
  assert.equal(doc.rejectWith, "tcp-reset");
  assert.equal(doc.decided, true);
  assert.equal(doc.ipVersion, 4);
  assert.deepEqual(doc.rules, { kind: "files", files: [OFFICE], backend: "nft" });
  assert.deepEqual(doc.packet, {
    source: "203.0.113.7",
    destination: "192.0.2.10",
    inInterface: "eth0",
    protocol: "tcp",
    destPort: 23,
  });
  assert.equal(doc.decidedBy.chain, "rp-input");
  assert.equal(doc.decidedBy.position, 5);
  assert.equal(doc.decidedBy.source.file, OFFICE);
  assert.equal(doc.decidedBy.source.line, 27);
  assert.deepEqual(
    doc.path.map((s: { kind: string; table: string; chain: string; action: string }) =>
      `${s.kind} ${s.table} ${s.chain} ${s.action}`
    ),
    [
      "policy raw PREROUTING ACCEPT",
      "policy mangle PREROUTING ACCEPT",
      "policy nat PREROUTING ACCEPT",
      "policy mangle INPUT ACCEPT",
      "rule filter INPUT jump rp-input",
      "rule filter rp-input REJECT",
    ],
  );
  assert.equal(doc.outcomes.length, 1);
});

Deno.test("trace: undecided matches show every branch; --assume picks one", async () => {
  const ssh = ["--in", "eth0", "--src", "203.0.113.7", "--dst", "192.0.2.10", "--dport", "22"];
  const env = fakeEnv();
  await runCli(["trace", RULES, ...ssh, "--json"], env);
  const doc = JSON.parse(env.out);
  assert.equal(doc.verdict, "UNKNOWN");
  assert.equal(doc.decided, false);
  assert.ok(doc.outcomes.length >= 3);
  const text = fakeEnv();
  await runCli(["trace", RULES, ...ssh], text);
  assert.match(
    text.out,
    /^verdict: UNKNOWN \(\d+ branches: .*some matches could not be decided\)/m,
  );
  assert.match(text.out, /assumes raw PREROUTING #1 matched \(-m rpfilter/);
  const chosen = fakeEnv();
  await runCli([
    "trace",
    RULES,
    ...ssh,
    "--assume",
    "rpfilter=no-match",
    "--assume",
    "connlimit=no-match",
    "--assume",
    "limit=match",
    "--json",
  ], chosen);
  const one = JSON.parse(chosen.out);
  assert.equal(one.verdict, "ACCEPT");
  assert.equal(one.decided, true);
  assert.equal(one.decidedBy.chain, "rp-ssh");
});

Deno.test("trace FILES with host addresses: DNAT to another host is forwarded, and IPv6", async () => {
  const env = fakeEnv();
  await runCli([
    "trace",
    RULES,
    "--in",
    "eth1",
    "--out",
    "docker0",
    "--src",
    "203.0.113.7",
    "--dst",
    "192.0.2.10",
    "--dport",
    "8080",
    "--local-address",
    "192.0.2.10/24",
    "--assume",
    "rpfilter=no-match",
    "--json",
  ], env);
  const doc = JSON.parse(env.out);
  assert.equal(doc.verdict, "ACCEPT");
  assert.equal(doc.outcomes[0].packet.direction, "forward");
  assert.equal(doc.outcomes[0].packet.destination, "172.17.0.2");
  assert.equal(doc.outcomes[0].packet.destPort, "80");
  const v6 = fakeEnv();
  await runCli([
    "trace",
    RULES,
    "-6",
    "--in",
    "eth0",
    "--src",
    "2001:db8::7",
    "--dst",
    "2001:db8::10",
    "--proto",
    "icmpv6",
    "--icmp-type",
    "neighbour-solicitation",
    "--assume",
    "rpfilter=no-match",
  ], v6);
  assert.match(v6.out, /^verdict: ACCEPT by filter rp-icmpv6 rule 3 \(.*rules\.yaml:130\)$/m);
});

Deno.test("trace: usage errors exit 2 and name the flag; bad files exit 4", async () => {
  const cases: [string[], RegExp][] = [
    [["trace", OFFICE, "--src", "203.0.113.7"], /Missing --dst/],
    [["trace", OFFICE, "--src", "203.0.113.7", "--dst", "10.0.0.1", "--dport", "99999"], /--dport/],
    [["trace", OFFICE, "--src", "nope", "--dst", "10.0.0.1"], /Invalid source "nope"/],
    [["trace", OFFICE, "--src", "10.0.0.9", "--dst", "10.0.0.1", "--state", "OLD"], /--state/],
    [["trace", OFFICE, "--src", "10.0.0.9", "--dst", "10.0.0.1", "--bogus", "1"], /bogus/],
    [["trace", OFFICE, "--src", "10.0.0.9", "--dst", "10.0.0.1", "-6"], /IPv4 but --ipv6/],
    [["trace", OFFICE, "--src", "10.0.0.9", "--dst", "10.0.0.1", "--backend", "x"], /--backend/],
    [["trace", OFFICE, "--src", "10.0.0.9", "--dst", "10.0.0.1", "--assume", "limit"], /--assume/],
    [["trace", OFFICE, "--src", "2001:db8::1", "--dst", "2001:db8::2"], /IPv4 only/],
    [[
      "trace",
      OFFICE,
      "--src",
      "10.0.0.9",
      "--dst",
      "10.0.0.1",
      "--proto",
      "udp",
      "--icmp-type",
      "8",
    ], /icmpType/],
    [["graph", OFFICE, "--format", "svg"], /--format "svg": expected mermaid, dot/],
  ];
  for (const [argv, message] of cases) {
    const env = fakeEnv();
    assert.equal(await runCli(argv, env), EXIT_CODES.USAGE, argv.join(" "));
    assert.match(env.err, message, argv.join(" "));
    assert.match(env.err, new RegExp(`Run 'rampart ${argv[0]} --help'`));
    const json = fakeEnv();
    assert.equal(await runCli([...argv, "--json"], json), EXIT_CODES.USAGE);
    const doc = JSON.parse(json.out);
    assert.equal(doc.ok, false);
    assert.equal(doc.exitCode, 2);
  }
  const bad = await Deno.makeTempFile({ suffix: ".yaml" });
  try {
    await Deno.writeTextFile(
      bad,
      "tables:\n  filter:\n    chains:\n      rp-x:\n        - protocol: tcpp\n",
    );
    const env = fakeEnv();
    const argv = ["trace", bad, "--src", "10.0.0.9", "--dst", "10.0.0.1", "--json"];
    assert.equal(await runCli(argv, env), EXIT_CODES.INVALID_POLICY);
    const doc = JSON.parse(env.out);
    assert.equal(doc.error.file, bad);
    assert.equal(doc.error.line, 5);
  } finally {
    await Deno.remove(bad);
  }
});

Deno.test("trace and graph --help; the overview lists them", async () => {
  for (const argv of [["trace", "--help"], ["help", "trace"], ["graph", "-h"], ["help", "graph"]]) {
    const env = fakeEnv();
    assert.equal(await runCli(argv, env), 0);
    assert.match(
      env.out,
      new RegExp(`^Usage: rampart ${argv.includes("trace") ? "trace" : "graph"}`),
    );
    assert.match(env.out, /--icmp-type/);
  }
  const env = fakeEnv();
  await runCli(["--help"], env);
  assert.match(env.out, /trace \[FILES\]/);
  assert.match(env.out, /graph \[FILES\]/);
});

Deno.test("trace without FILES reads the live tables, every program's rules, and the host's addresses", async () => {
  const fake = new FakeDataplane({ ipsets: ["trusted"] });
  // Another program's rules (docker-shaped) beside ours.
  await fake.load(
    "*nat\n:DOCKER - [0:0]\n-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n" +
      "-A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80\nCOMMIT\n" +
      "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:rp-in - [0:0]\n" +
      '-A INPUT -m comment --comment "rampart:AAAAAAAAAAAAAAAA" -j rp-in\n' +
      "-A FORWARD -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j ACCEPT\n" +
      "-A rp-in -m set --match-set trusted src -j ACCEPT\nCOMMIT\n",
  );
  const runner = host(
    fake,
    ["192.0.2.10/24"],
    "create trusted hash:ip family inet\nadd trusted 198.51.100.4\n",
  );
  const env = fakeEnv({ runner });
  const argv = ["trace", "--netns", "lab", "--backend", "nft", "--in", "eth0", "--out", "docker0"];
  assert.equal(
    await runCli([
      ...argv,
      "--src",
      "203.0.113.7",
      "--dst",
      "192.0.2.10",
      "--dport",
      "8080",
      "--json",
    ], env),
    0,
    env.out,
  );
  assert.deepEqual(env.netns, ["lab"]);
  const doc = JSON.parse(env.out);
  assert.deepEqual(doc.rules, { kind: "kernel", netns: "lab", backend: "nft" });
  assert.equal(doc.verdict, "ACCEPT");
  assert.equal(doc.decidedBy.chain, "FORWARD");
  assert.equal(doc.outcomes[0].packet.destination, "172.17.0.2");
  // The IP set's contents were read: a member is accepted by our rule, decided.
  const member = fakeEnv({ runner });
  await runCli([
    "trace",
    "--netns",
    "lab",
    "--src",
    "198.51.100.4",
    "--dst",
    "192.0.2.10",
    "--dport",
    "22",
  ], member);
  assert.match(
    member.out,
    /^rules: the live tables of network namespace lab \(iptables-nft, every program's rules\)/,
  );
  assert.match(member.out, /^verdict: ACCEPT by filter rp-in rule 1$/m);
  assert.match(member.out, /rule ID AAAAAAAAAAAAAAAA/);
  const other = fakeEnv({ runner });
  await runCli([
    "trace",
    "--netns",
    "lab",
    "--src",
    "198.51.100.5",
    "--dst",
    "192.0.2.10",
    "--dport",
    "22",
  ], other);
  assert.match(other.out, /^verdict: DROP by filter INPUT policy DROP$/m);
});

Deno.test("graph FILES: Mermaid and DOT with rule counts; a traced path is highlighted", async () => {
  const env = fakeEnv();
  assert.equal(await runCli(["graph", OFFICE], env), 0, env.err);
  assert.match(env.out, /^flowchart LR\n/);
  assert.match(env.out, /subgraph c4_filter\["filter"\]/);
  assert.match(env.out, /\["INPUT<br\/>1 rule · policy DROP"\]/);
  assert.match(env.out, /\["rp-input<br\/>5 rules"\]/);
  assert.match(env.out, /n\d+ -->\|"#35;1 jump"\| n\d+/);
  assert.doesNotMatch(env.out, /linkStyle|verdict/);
  const traced = fakeEnv();
  await runCli(["graph", OFFICE, "--trace", ...WEB, "--format", "dot"], traced);
  assert.match(traced.out, /^digraph rampart \{/);
  assert.match(
    traced.out,
    /packet \[label="tcp 203\.0\.113\.7 → 192\.0\.2\.10:443 in eth0, NEW", shape=oval/,
  );
  assert.match(traced.out, /verdict \[label="ACCEPT by filter rp-input #4"/);
  assert.match(traced.out, /-> n\d+ \[label="#1 jump", color="#d97706", penwidth=3\]/);
  const json = fakeEnv();
  await runCli(["graph", OFFICE, ...WEB, "--json"], json);
  const doc = JSON.parse(json.out);
  assert.equal(doc.verdict, "ACCEPT");
  assert.match(doc.graph, /^flowchart LR/);
  assert.match(doc.graph, /linkStyle [\d,]+ stroke:#d97706/);
});

Deno.test("the CLI as a whole process: trace --json and graph", async () => {
  const r = await rampart(["trace", OFFICE, ...WEB, "--json"]);
  assert.equal(r.code, 0, r.err);
  assert.equal(JSON.parse(r.out).verdict, "ACCEPT");
  const g = await rampart(["graph", OFFICE, "--format", "dot"]);
  assert.equal(g.code, 0, g.err);
  assert.match(g.out, /^digraph rampart/);
});

kernelTest(
  "rampart trace --netns: the live tables of both backends, other programs' rules included",
  async (netns) => {
    await nsExec(netns, "ip", ["link", "add", "rp0", "type", "veth", "peer", "name", "rp1"]);
    await nsExec(netns, "ip", ["addr", "add", "192.0.2.10/24", "dev", "rp0"]);
    await nsExec(netns, "ip", ["link", "set", "rp0", "up"]);
    for (const backend of ["nft", "legacy"] as const) {
      const v = { backend, ipVersion: 4 as const };
      // A ufw-shaped foreign chain that accepts SSH, and ours that drops 23 first.
      await restoreScript(
        netns,
        v,
        "*filter\n:INPUT DROP [0:0]\n:ufw-user-input - [0:0]\n-A INPUT -j ufw-user-input\n" +
          "-A ufw-user-input -p tcp --dport 22 -j ACCEPT\nCOMMIT\n",
        { flush: true },
      );
      const apply = await rampart([
        "apply",
        OFFICE,
        "--netns",
        netns,
        "--backend",
        backend,
        "--yes",
      ]);
      assert.equal(apply.code, 0, apply.err);
      const ssh = await rampart([
        "trace",
        "--netns",
        netns,
        "--backend",
        backend,
        "--in",
        "rp0",
        "--src",
        "203.0.113.7",
        "--dst",
        "192.0.2.10",
        "--dport",
        "22",
        "--json",
      ]);
      assert.equal(ssh.code, 0, ssh.err);
      const doc = JSON.parse(ssh.out);
      assert.equal(doc.rules.backend, backend);
      assert.equal(doc.verdict, "ACCEPT", backend);
      assert.equal(doc.decidedBy.chain, "ufw-user-input", backend);
      assert.ok(
        doc.path.some((s: { ruleId?: string }) => s.ruleId !== undefined),
        "our jump first",
      );
      const telnet = await rampart([
        "trace",
        "--netns",
        netns,
        "--backend",
        backend,
        "--in",
        "rp0",
        "--src",
        "203.0.113.7",
        "--dst",
        "192.0.2.10",
        "--dport",
        "23",
      ]);
      assert.match(
        telnet.out,
        /^verdict: REJECT \(tcp-reset\) by filter rp-input rule 5/m,
        telnet.out,
      );
      const graph = await rampart([
        "graph",
        "--netns",
        netns,
        "--backend",
        backend,
        "-4",
        "--format",
        "dot",
      ]);
      assert.equal(graph.code, 0, graph.err);
      assert.match(graph.out, /label="ufw-user-input\\n1 rule"/);
      assert.match(graph.out, /label="rp-input\\n5 rules"/);
      const removed = await rampart(["remove", "--netns", netns, "--backend", backend, "--yes"]);
      assert.equal(removed.code, 0, removed.err);
      await restoreScript(netns, v, "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n", { flush: true });
    }
  },
);

Deno.test("trace FILES --netns: the policy's rules, with the namespace's addresses and IP sets", async () => {
  const fake = new FakeDataplane();
  const runner = host(fake, ["192.0.2.10/24"]);
  const env = fakeEnv({ runner });
  const argv = ["trace", RULES, "--netns", "lab", "--in", "eth1", "--out", "docker0"];
  await runCli([
    ...argv,
    "--src",
    "203.0.113.7",
    "--dst",
    "192.0.2.10",
    "--sport",
    "40000",
    "--dport",
    "8080",
    "--assume",
    "rpfilter=no-match",
    "--json",
  ], env);
  assert.deepEqual(env.netns, ["lab"]);
  const doc = JSON.parse(env.out);
  assert.equal(doc.rules.kind, "files");
  assert.equal(doc.verdict, "ACCEPT");
  // The namespace's address made the DNATed packet a forwarded one.
  assert.equal(doc.outcomes[0].packet.direction, "forward");
  assert.ok(!fake.calls.some((c) => /iptables/.test(c.cmd)), "no rules are read from the kernel");
});
