/**
 * The actions added for real rule sets (issue 16): each renders what
 * iptables-save prints (checked against the binaries in
 * `tests/fixtures/normalisation/`), rebuilds from `kind` and `args`, and
 * refuses what iptables or the kernel would refuse.
 */
import assert from "assert";
import {
  type Action,
  Audit,
  ChangeHopLimit,
  ChangeTtl,
  ChecksumFill,
  ClampMssToPmtu,
  Classify,
  Ct,
  LogPacket,
  Masq,
  Redirect,
  RuleError,
  SetMss,
  Snat,
  XorMark,
} from "../../mod.ts";
import * as Actions from "../../mod.ts";

const ROWS: [Action, string][] = [
  [LogPacket(), "--jump LOG"],
  [LogPacket({ prefix: "[UFW BLOCK] " }), '--jump LOG --log-prefix "[UFW BLOCK] "'],
  [LogPacket({ prefix: "abc", level: 4 }), "--jump LOG --log-prefix abc"],
  [
    LogPacket({ macDecode: true, level: 7, tcpSequence: true, prefix: "p " }),
    '--jump LOG --log-prefix "p " --log-level 7 --log-tcp-sequence --log-macdecode',
  ],
  [XorMark(0x4000), "--jump MARK --set-xmark 0x4000/0x0"],
  [Ct({ notrack: true }), "--jump CT --notrack"],
  [Ct({ zone: 5, helper: "ftp" }), "--jump CT --helper ftp --zone 5"],
  [Redirect(), "--jump REDIRECT"],
  [Redirect("3128", { random: true }), "--jump REDIRECT --to-ports 3128 --random"],
  [ClampMssToPmtu(), "--jump TCPMSS --clamp-mss-to-pmtu"],
  [SetMss(1360), "--jump TCPMSS --set-mss 1360"],
  [ChecksumFill(), "--jump CHECKSUM --checksum-fill"],
  [ChangeTtl("set", 64), "--jump TTL --ttl-set 64"],
  [ChangeHopLimit("dec", 1), "--jump HL --hl-dec 1"],
  [Classify(1, 0x10), "--jump CLASSIFY --set-class 0001:0010"],
  [Audit("reject"), "--jump AUDIT --type reject"],
];

Deno.test("issue-16 actions render what iptables-save prints, and rebuild from kind and args", () => {
  for (const [action, fragment] of ROWS) {
    assert.equal(action.toFragment({ masqFullyRandom: true, snatFullyRandom: true }), fragment);
    assert.ok(Object.isFrozen(action.args));
    const ctor = (Actions as unknown as Record<string, (...a: unknown[]) => Action>)[action.kind]!;
    assert.equal(typeof ctor, "function", action.kind);
    const again = ctor(...action.args);
    assert.equal(again.toFragment(), action.toFragment());
    assert.equal(String(again), String(action));
  }
});

Deno.test("Masq and Snat: NAT flags fixed by options, or left to the host's features", () => {
  const host = { masqFullyRandom: true, snatFullyRandom: true };
  assert.equal(Masq().toFragment(host), "--jump MASQUERADE --random-fully");
  assert.equal(Masq(undefined, { randomFully: false }).toFragment(host), "--jump MASQUERADE");
  assert.equal(
    Masq(undefined, { randomFully: true }).toFragment({}),
    "--jump MASQUERADE --random-fully",
  );
  assert.equal(
    Masq("1024-65535", { random: true, randomFully: false }).toFragment(host),
    "--jump MASQUERADE --to-ports 1024-65535 --random",
  );
  assert.deepEqual(Masq(undefined, { randomFully: false }).args, [undefined, {
    randomFully: false,
  }]);
  assert.equal(
    Snat("10.0.0.1", { persistent: true, random: true, randomFully: false }).toFragment(host),
    "--jump SNAT --to-source 10.0.0.1 --random --persistent",
  );
  assert.deepEqual(
    Object.keys(Snat("10.0.0.1", { persistent: true, random: true }).args[1] as object),
    [
      "random",
      "persistent",
    ],
  );
  assert.equal(String(Snat("10.0.0.1", { random: true })), "SNAT->10.0.0.1");
});

Deno.test("issue-16 actions refuse what iptables or the kernel would refuse", () => {
  const bad: [string, () => unknown][] = [
    ["Masq.options.persistent", () => Masq(undefined, { persistent: true })],
    ["Snat.options.random", () => Snat("10.0.0.1", { random: "yes" as never })],
    ["LogPacket.prefix", () => LogPacket({ prefix: 'a" -j ACCEPT' })],
    ["LogPacket.prefix", () => LogPacket({ prefix: "x".repeat(30) })],
    ["LogPacket.level", () => LogPacket({ level: 8 })],
    ["LogPacket.bogus", () => LogPacket({ bogus: true } as never)],
    ["XorMark.mark", () => XorMark(0)],
    ["Ct", () => Ct({})],
    ["Ct.notrack", () => Ct({ notrack: true, zone: 1 })],
    ["Ct.helper", () => Ct({ helper: "ftp -j ACCEPT" })],
    ["Redirect.toPorts", () => Redirect("80 --random")],
    ["Redirect.options.randomFully", () => Redirect(undefined, { randomFully: true } as never)],
    ["SetMss.mss", () => SetMss(70000)],
    ["ChangeTtl.operation", () => ChangeTtl("add" as never, 1)],
    ["ChangeTtl.value", () => ChangeTtl("dec", 0)],
    ["Classify.minor", () => Classify(1, 0x10000)],
    ["Audit.type", () => Audit("log" as never)],
  ];
  for (const [field, build] of bad) {
    assert.throws(build, (e) => e instanceof RuleError && e.field === field, field);
  }
});
