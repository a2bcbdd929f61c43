import assert from "assert";
import { compareVersions, parseVersion } from "../../src/host/version.ts";

Deno.test("parseVersion splits on . and - into at most four integers", () => {
  assert.deepEqual(parseVersion("1.8.9"), [1, 8, 9]);
  assert.deepEqual(parseVersion("4.18.0-330"), [4, 18, 0, 330]);
  assert.equal(parseVersion("4.18.0-330-x"), undefined, "the fourth part is '330-x'");
  assert.equal(parseVersion("1.x.0"), undefined);
  assert.equal(parseVersion(""), undefined);
});

Deno.test("compareVersions compares element-wise, then by length", () => {
  const v = (s: string) => parseVersion(s) as number[];
  const cases: [string, string, number][] = [
    ["1.6.2", "1.6.2", 0],
    ["1.6.2", "1.6.1", 1],
    ["1.6.10", "1.6.9", 1],
    ["1.4.7", "1.6.0", -1],
    ["4.18.0-330", "4.18.0", 1],
    ["4.18.0", "4.18.0-330", -1],
    ["5.7.0", "5.7.0", 0],
    ["5.14", "5.14.0", -1],
  ];
  for (const [a, b, want] of cases) assert.equal(compareVersions(v(a), v(b)), want, `${a} vs ${b}`);
});
