import assert from "assert";
import {
  Accept,
  AcceptAction,
  type Action,
  ClearMark,
  ClearMarkAction,
  Dnat,
  DnatAction,
  Drop,
  DropAction,
  Dscp,
  DscpAction,
  type Features,
  Goto,
  GotoAction,
  isReferrer,
  Jump,
  JumpAction,
  LimitNumConnections,
  LimitNumConnectionsAction,
  LimitPacketRate,
  LimitPacketRateAction,
  Log,
  LogAction,
  Masq,
  MasqAction,
  Nflog,
  NflogAction,
  NoTrack,
  NoTrackAction,
  Reject,
  RejectAction,
  RestoreConnMark,
  RestoreConnMarkAction,
  Return,
  ReturnAction,
  SaveConnMark,
  SaveConnMarkAction,
  SetConnMark,
  SetConnMarkAction,
  SetMark,
  SetMarkAction,
  SetMaskedMark,
  SetMaskedMarkAction,
  Snat,
  SnatAction,
} from "../../mod.ts";

interface Row {
  name: string;
  action: Action;
  features?: Features;
  fragment: string;
  string: string;
}

// Appendix A.2 of the reference (head behaviour) plus the toString forms of section 2.
const ROWS: Row[] = [
  {
    name: "Goto",
    action: Goto("cali-abcd"),
    fragment: "--goto cali-abcd",
    string: "Goto->cali-abcd",
  },
  {
    name: "Jump",
    action: Jump("cali-abcd"),
    fragment: "--jump cali-abcd",
    string: "Jump->cali-abcd",
  },
  { name: "Return", action: Return(), fragment: "--jump RETURN", string: "Return" },
  { name: "Drop", action: Drop(), fragment: "--jump DROP", string: "Drop" },
  { name: "Accept", action: Accept(), fragment: "--jump ACCEPT", string: "Accept" },
  {
    name: "Log",
    action: Log("prefix"),
    fragment: '--jump LOG --log-prefix "prefix: " --log-level 5',
    string: "Log",
  },
  {
    name: "Log empty",
    action: Log(""),
    fragment: '--jump LOG --log-prefix ": " --log-level 5',
    string: "Log",
  },
  {
    name: "Dnat port",
    action: Dnat("10.0.0.1", 8081),
    fragment: "--jump DNAT --to-destination 10.0.0.1:8081",
    string: "DNAT->10.0.0.1:8081",
  },
  {
    name: "Dnat port 0",
    action: Dnat("10.0.0.1", 0),
    fragment: "--jump DNAT --to-destination 10.0.0.1",
    string: "DNAT->10.0.0.1:0",
  },
  {
    name: "Dnat no port",
    action: Dnat("10.0.0.1"),
    fragment: "--jump DNAT --to-destination 10.0.0.1",
    string: "DNAT->10.0.0.1:0",
  },
  {
    name: "Dnat IPv6 port",
    action: Dnat("2001:db8::1", 80),
    fragment: "--jump DNAT --to-destination [2001:db8::1]:80",
    string: "DNAT->2001:db8::1:80",
  },
  {
    name: "Dnat IPv6 no port",
    action: Dnat("2001:db8::1"),
    fragment: "--jump DNAT --to-destination 2001:db8::1",
    string: "DNAT->2001:db8::1:0",
  },
  {
    name: "Dnat IPv6 range port",
    action: Dnat("2001:db8::1-2001:db8::5", 80),
    fragment: "--jump DNAT --to-destination [2001:db8::1-2001:db8::5]:80",
    string: "DNAT->2001:db8::1-2001:db8::5:80",
  },
  {
    name: "Dnat full spec",
    action: Dnat("[2001:db8::1]:80-90"),
    fragment: "--jump DNAT --to-destination [2001:db8::1]:80-90",
    string: "DNAT->[2001:db8::1]:80-90:0",
  },
  {
    name: "Snat",
    action: Snat("10.0.0.1"),
    fragment: "--jump SNAT --to-source 10.0.0.1",
    string: "SNAT->10.0.0.1",
  },
  {
    name: "Snat fully random",
    action: Snat("10.0.0.1"),
    features: { snatFullyRandom: true },
    fragment: "--jump SNAT --to-source 10.0.0.1 --random-fully",
    string: "SNAT->10.0.0.1",
  },
  {
    name: "Snat range and ports",
    action: Snat("10.0.0.1-10.0.0.5:1024-2047"),
    fragment: "--jump SNAT --to-source 10.0.0.1-10.0.0.5:1024-2047",
    string: "SNAT->10.0.0.1-10.0.0.5:1024-2047",
  },
  {
    name: "Snat IPv6 port",
    action: Snat("[2001:db8::1]:8080"),
    fragment: "--jump SNAT --to-source [2001:db8::1]:8080",
    string: "SNAT->[2001:db8::1]:8080",
  },
  { name: "Masq", action: Masq(), fragment: "--jump MASQUERADE", string: "Masq" },
  {
    name: "Masq ports",
    action: Masq("32768-65535"),
    fragment: "--jump MASQUERADE --to-ports 32768-65535",
    string: "Masq",
  },
  {
    name: "Masq fully random",
    action: Masq(),
    features: { masqFullyRandom: true },
    fragment: "--jump MASQUERADE --random-fully",
    string: "Masq",
  },
  {
    name: "Masq ports fully random",
    action: Masq("32768-65535"),
    features: { masqFullyRandom: true },
    fragment: "--jump MASQUERADE --to-ports 32768-65535 --random-fully",
    string: "Masq",
  },
  {
    name: "Masq single port",
    action: Masq("1024"),
    fragment: "--jump MASQUERADE --to-ports 1024",
    string: "Masq",
  },
  {
    name: "ClearMark",
    action: ClearMark(0x1000),
    fragment: "--jump MARK --set-mark 0/0x1000",
    string: "Clear:0x1000",
  },
  {
    name: "SetMark",
    action: SetMark(0x1000),
    fragment: "--jump MARK --set-mark 0x1000/0x1000",
    string: "Set:0x1000",
  },
  {
    name: "SetMaskedMark",
    action: SetMaskedMark(0x1000, 0xf000),
    fragment: "--jump MARK --set-mark 0x1000/0xf000",
    string: "Set:0x1000",
  },
  {
    name: "SaveConnMark mask",
    action: SaveConnMark(0x100),
    fragment: "--jump CONNMARK --save-mark --mask 0x100",
    string: "SaveConnMarkWithMask:0x100",
  },
  {
    name: "SaveConnMark default",
    action: SaveConnMark(),
    fragment: "--jump CONNMARK --save-mark --mask 0xffffffff",
    string: "SaveConnMarkWithMask:0x0",
  },
  {
    name: "SaveConnMark 0",
    action: SaveConnMark(0),
    fragment: "--jump CONNMARK --save-mark --mask 0xffffffff",
    string: "SaveConnMarkWithMask:0x0",
  },
  {
    name: "RestoreConnMark mask",
    action: RestoreConnMark(0x100),
    fragment: "--jump CONNMARK --restore-mark --mask 0x100",
    string: "RestoreConnMarkWithMask:0x100",
  },
  {
    name: "RestoreConnMark default",
    action: RestoreConnMark(),
    fragment: "--jump CONNMARK --restore-mark --mask 0xffffffff",
    string: "RestoreConnMarkWithMask:0x0",
  },
  {
    name: "SetConnMark",
    action: SetConnMark(0x10, 0xf0),
    fragment: "--jump CONNMARK --set-mark 0x10/0xf0",
    string: "SetConnMarkWithMask:0x10/0xf0",
  },
  {
    name: "SetConnMark default mask",
    action: SetConnMark(0x10),
    fragment: "--jump CONNMARK --set-mark 0x10/0xffffffff",
    string: "SetConnMarkWithMask:0x10/0x0",
  },
  {
    name: "LimitPacketRate",
    action: LimitPacketRate(1000, 5, 0x200),
    fragment: "-m limit --limit 1000/sec --limit-burst 5 --jump MARK --set-mark 0x200/0x200",
    string: "LimitPacketRate:1000/s,burst:5",
  },
  {
    name: "LimitNumConnections",
    action: LimitNumConnections(10, "tcp-reset"),
    fragment:
      "-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m connlimit --connlimit-above 10 --connlimit-mask 0 -j REJECT --reject-with tcp-reset",
    string: "LimitNumConnectionsAction:10,rejectWith:tcp-reset",
  },
  { name: "Dscp 0", action: Dscp(0), fragment: "--jump DSCP --set-dscp 0", string: "DSCP 0" },
  { name: "Dscp 20", action: Dscp(20), fragment: "--jump DSCP --set-dscp 20", string: "DSCP 20" },
  { name: "NoTrack", action: NoTrack(), fragment: "--jump NOTRACK", string: "NOTRACK" },
  {
    name: "Reject with",
    action: Reject("tcp-reset"),
    fragment: "--jump REJECT --reject-with tcp-reset",
    string: "Reject",
  },
  { name: "Reject", action: Reject(), fragment: "--jump REJECT", string: "Reject" },
  { name: "Reject empty", action: Reject(""), fragment: "--jump REJECT", string: "Reject" },
  {
    name: "Reject IPv6",
    action: Reject("icmp6-adm-prohibited"),
    fragment: "--jump REJECT --reject-with icmp6-adm-prohibited",
    string: "Reject",
  },
  {
    name: "Nflog size feature",
    action: Nflog(1, "API0|x", 0),
    features: { nflogSize: true },
    fragment: "--jump NFLOG --nflog-group 1 --nflog-prefix API0|x --nflog-size 80",
    string: "Nflog:g=1,p=API0|x",
  },
  {
    name: "Nflog range",
    action: Nflog(1, "API0|x", 0),
    fragment: "--jump NFLOG --nflog-group 1 --nflog-prefix API0|x --nflog-range 80",
    string: "Nflog:g=1,p=API0|x",
  },
  {
    name: "Nflog no size",
    action: Nflog(1, "API0|x", -1),
    features: { nflogSize: true },
    fragment: "--jump NFLOG --nflog-group 1 --nflog-prefix API0|x",
    string: "Nflog:g=1,p=API0|x",
  },
  {
    name: "Nflog default size",
    action: Nflog(2, "DPI|default.policy-1"),
    features: { nflogSize: true },
    fragment: "--jump NFLOG --nflog-group 2 --nflog-prefix DPI|default.policy-1 --nflog-size 80",
    string: "Nflog:g=2,p=DPI|default.policy-1",
  },
  {
    name: "Nflog explicit size",
    action: Nflog(1, "x", 128),
    fragment: "--jump NFLOG --nflog-group 1 --nflog-prefix x --nflog-range 128",
    string: "Nflog:g=1,p=x",
  },
];

for (const row of ROWS) {
  Deno.test(`action renders ${row.name}`, () => {
    assert.equal(row.action.toFragment(row.features), row.fragment);
    assert.equal(row.action.toString(), row.string);
    assert.equal(String(row.action), row.string);
  });
}

Deno.test("actions: features default to all false", () => {
  assert.equal(Snat("10.0.0.1").toFragment(), "--jump SNAT --to-source 10.0.0.1");
  assert.equal(Snat("10.0.0.1").toFragment({}), "--jump SNAT --to-source 10.0.0.1");
  assert.equal(Masq().toFragment({ snatFullyRandom: true }), "--jump MASQUERADE");
});

// deno-lint-ignore no-explicit-any
type Ctor = (...args: any[]) => Action;

Deno.test("actions: kind is the constructor's name and args rebuild an equal action", () => {
  const cases: [Ctor, unknown[], abstract new (...args: never[]) => unknown][] = [
    [Accept, [], AcceptAction],
    [Drop, [], DropAction],
    [Return, [], ReturnAction],
    [Jump, ["rp-x"], JumpAction],
    [Goto, ["rp-x"], GotoAction],
    [Log, ["p"], LogAction],
    [Masq, [], MasqAction],
    [Masq, ["80"], MasqAction],
    [Snat, ["10.0.0.1"], SnatAction],
    [Dnat, ["10.0.0.1"], DnatAction],
    [Dnat, ["10.0.0.1", 80], DnatAction],
    [NoTrack, [], NoTrackAction],
    [ClearMark, [1], ClearMarkAction],
    [SetMark, [1], SetMarkAction],
    [SetMaskedMark, [1, 3], SetMaskedMarkAction],
    [Reject, [], RejectAction],
    [Reject, ["tcp-reset"], RejectAction],
    [SaveConnMark, [], SaveConnMarkAction],
    [SaveConnMark, [0x100], SaveConnMarkAction],
    [RestoreConnMark, [], RestoreConnMarkAction],
    [SetConnMark, [1], SetConnMarkAction],
    [SetConnMark, [1, 3], SetConnMarkAction],
    [Nflog, [1, "x"], NflogAction],
    [Nflog, [1, "x", -1], NflogAction],
    [LimitPacketRate, [10, 5, 1], LimitPacketRateAction],
    [LimitNumConnections, [10, "tcp-reset"], LimitNumConnectionsAction],
    [Dscp, [10], DscpAction],
  ];
  for (const [ctor, args, cls] of cases) {
    const action = ctor(...args);
    assert.ok(action instanceof cls, ctor.name);
    assert.equal(action.kind, ctor.name);
    assert.deepEqual(action.args, args);
    assert.ok(Object.isFrozen(action.args));
    const again = ctor(...action.args);
    assert.equal(again.toFragment({ nflogSize: true }), action.toFragment({ nflogSize: true }));
    assert.equal(String(again), String(action));
  }
});

Deno.test("actions: trailing undefineds are dropped from args", () => {
  assert.deepEqual(Masq(undefined).args, []);
  assert.deepEqual(Dnat("10.0.0.1", undefined).args, ["10.0.0.1"]);
  assert.deepEqual(Nflog(1, "x", undefined).args, [1, "x"]);
  assert.deepEqual(SetConnMark(1, undefined).args, [1]);
  assert.deepEqual(Reject(undefined).args, []);
});

Deno.test("actions: Jump and Goto are referrers with a readonly target", () => {
  const j = Jump("rp-a");
  const g = Goto("rp-b");
  assert.ok(isReferrer(j) && isReferrer(g));
  assert.equal(j.target, "rp-a");
  assert.equal(g.target, "rp-b");
  assert.ok(!isReferrer(Accept()));
  assert.ok(!isReferrer(Log("x")));
});

Deno.test("actions: classes validate like their constructors", () => {
  assert.throws(() => new JumpAction("ACCEPT"), /Jump\.target/);
  assert.throws(() => new DscpAction(64), /Dscp\.value/);
});

Deno.test("actions: chain names at the 28 character limit", () => {
  const name = "rp-" + "x".repeat(25);
  assert.equal(Jump(name).toFragment(), `--jump ${name}`);
  assert.throws(() => Jump(name + "x"));
});
