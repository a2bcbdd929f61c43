import assert from "assert";
import {
  Match,
  type PortRange,
  portRangesToMultiport,
  portsToMultiport,
  RuleError,
  splitPortList,
} from "../../mod.ts";

const r = (first: number, last: number): PortRange => ({ first, last });

Deno.test("ports: multiport lists keep order and duplicates", () => {
  assert.equal(portsToMultiport([443, 80, 80]), "443,80,80");
  assert.equal(portsToMultiport([]), "");
  assert.equal(portRangesToMultiport([r(1234, 1234), r(5678, 6000)]), "1234,5678:6000");
  assert.equal(portRangesToMultiport([]), "");
});

Deno.test("ports: the helpers validate their values", () => {
  assert.throws(() => portsToMultiport([70000]), RuleError);
  assert.throws(() => portRangesToMultiport([r(5, 4)]), RuleError);
  assert.throws(() => splitPortList([r(5, 4)]), RuleError);
  assert.throws(() => splitPortList([-1]), RuleError);
});

Deno.test("ports: splitPortList is greedy, order-preserving, 15 slots, ranges cost 2", () => {
  assert.deepEqual(splitPortList([]), []);
  const ports = Array.from({ length: 31 }, (_, i) => i + 1);
  const groups = splitPortList(ports);
  assert.deepEqual(groups.map((g) => g.length), [15, 15, 1]);
  assert.deepEqual(groups.flat(), ports);

  const mixed = [1, r(2, 3), r(4, 4), 5, r(6, 10), r(11, 12), r(13, 14), r(15, 16), r(17, 18), 19];
  // 1 + 2 + 1 + 1 + 2×5 = 15, then 19 starts a new group.
  assert.deepEqual(splitPortList(mixed), [mixed.slice(0, 9), mixed.slice(9)]);
  // A range that does not fit starts a new group even if one slot is left.
  const fourteen = Array.from({ length: 14 }, (_, i) => i);
  assert.deepEqual(splitPortList<number | PortRange>([...fourteen, r(100, 200)]), [
    fourteen,
    [r(100, 200)],
  ]);
});

Deno.test("ports: every split group renders as a valid match", () => {
  const items = Array.from(
    { length: 40 },
    (_, i) => (i % 3 === 0 ? r(i * 10, i * 10 + 5) : i * 10),
  );
  for (const group of splitPortList(items)) {
    const ranges = group.map((p) => (typeof p === "number" ? r(p, p) : p));
    assert.equal(Match().protocol("tcp").destPortRanges(ranges).clauses.length, 2);
  }
});
