/**
 * The seam against the real binaries: tables given one `IptablesDataplane`
 * (`dataplane` option) program the kernel exactly as tables built from the
 * `netns`/`backend`/`ipVersion` options do, share its detection of the
 * variant, and detect and put back what another program clobbered.
 */
import assert from "assert";
import { Accept, IptablesDataplane, Jump, Match, Table } from "../../mod.ts";
import {
  chainLines,
  kernelTable,
  kernelTest,
  nsExec,
  saveTable,
  TABLE_DEFAULTS,
  type Variant,
  variantName,
  VARIANTS,
} from "./netns.ts";

const RULES = [
  { match: Match().protocol("tcp").destPorts(22), action: Accept() },
  { match: Match().protocol("udp").destPorts(53), action: Accept() },
];

async function shared(netns: string, v: Variant): Promise<void> {
  let detections = 0;
  const dataplane = new IptablesDataplane({
    netns,
    ipVersion: v.ipVersion,
    backendDetector: () => {
      detections++;
      return Promise.resolve(v.backend);
    },
  });
  const logged: { message: string; chains: unknown }[] = [];
  const filter = new Table("filter", {
    ...TABLE_DEFAULTS,
    dataplane,
    logger: { log: (_level, message, fields) => logged.push({ message, chains: fields?.chains }) },
  });
  const raw = new Table("raw", { ...TABLE_DEFAULTS, dataplane });
  filter.updateChain({ name: "rp-in", rules: RULES });
  filter.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
  raw.setRuleInsertions("PREROUTING", [{ match: Match().protocol("udp"), action: Accept() }]);
  await Promise.all([filter.apply(), raw.apply()]);
  assert.equal(detections, 1, "one detection for the family");
  assert.equal(filter.backend, v.backend);

  // The same kernel state as a table built from the options.
  const twin = kernelTable(netns, "filter", v);
  twin.updateChain({ name: "rp-in", rules: RULES });
  twin.setRuleInsertions("INPUT", [{ action: Jump("rp-in") }]);
  assert.equal(await twin.plan(), "");
  assert.equal(chainLines(await saveTable(netns, v, "raw"), "PREROUTING").length, 1);

  // Another program flushes our chain: the next read sees it, the write puts it back.
  const family = v.ipVersion === 6 ? "ip6tables" : "iptables";
  await nsExec(netns, `${family}-${v.backend}`, ["-F", "rp-in"]);
  filter.invalidateDataplaneCache("test: clobbered");
  assert.match(await filter.plan(), /-A rp-in /);
  assert.deepEqual(
    logged.filter((l) => l.message === "the kernel changed since it was last read or written"),
    [{ message: "the kernel changed since it was last read or written", chains: ["rp-in"] }],
  );
  await filter.apply();
  assert.equal(chainLines(await saveTable(netns, v, "filter"), "rp-in").length, 2);
  assert.equal(await filter.plan(), "");
}

for (const v of VARIANTS) {
  kernelTest(
    `one IptablesDataplane serves the tables of a family (${variantName(v)})`,
    (netns) => shared(netns, v),
  );
}
