import assert from "assert";
import {
  Accept,
  type Action,
  Drop,
  escapeComment,
  Jump,
  Match,
  MatchCriteria,
  renderAppend,
  renderInsert,
  renderInsertAt,
  renderReplace,
  type Rule,
  Snat,
} from "../../mod.ts";

/** A criteria holding a raw fragment, as in the reference's tests (`-m foobar --foobar baz`). */
function rawMatch(fragment: string): MatchCriteria {
  return new MatchCriteria([{ method: "raw", args: [], fragment }]);
}

/** A raw action, as in the reference's tests (`--jump biff`). */
const biff: Action = {
  kind: "Raw",
  args: [],
  toFragment: () => "--jump biff",
  toString: () => "biff",
};

Deno.test("rule: the reference's rendering example (A.3 #67)", () => {
  const rule: Rule = {
    match: rawMatch("-m foobar --foobar baz"),
    action: biff,
    comment: ["boz", "fizz"],
  };
  assert.equal(
    renderAppend(rule, "test", { hash: "TEST" }),
    '-A test -m comment --comment "TEST" -m comment --comment "boz" -m comment --comment "fizz" -m foobar --foobar baz --jump biff',
  );
});

Deno.test("rule: all four render forms", () => {
  const rule: Rule = { match: Match().protocol("tcp").destPorts(22), action: Accept() };
  const body = "-p tcp -m multiport --destination-ports 22 --jump ACCEPT";
  const id = { hash: "Cz_u1IQiXIMmKD4c", hashPrefix: "rampart:" };
  const c = '-m comment --comment "rampart:Cz_u1IQiXIMmKD4c"';
  assert.equal(renderAppend(rule, "rp-in"), `-A rp-in ${body}`);
  assert.equal(renderAppend(rule, "rp-in", id), `-A rp-in ${c} ${body}`);
  assert.equal(renderInsert(rule, "INPUT", id), `-I INPUT ${c} ${body}`);
  assert.equal(renderInsertAt(rule, "INPUT", { ...id, position: 3 }), `-I INPUT 3 ${c} ${body}`);
  assert.equal(renderReplace(rule, "rp-in", { ...id, position: 1 }), `-R rp-in 1 ${c} ${body}`);
  assert.equal(renderAppend(rule, "rp-in", { hash: "HASH" }), `-A rp-in HASH ${body}`);
});

Deno.test("rule: empty parts are skipped", () => {
  assert.equal(renderAppend({}, "rp-x"), "-A rp-x");
  assert.equal(renderAppend({ match: Match() }, "rp-x"), "-A rp-x");
  assert.equal(renderAppend({ action: Drop() }, "rp-x", { hash: "" }), "-A rp-x --jump DROP");
  assert.equal(renderAppend({ comment: "c" }, "rp-x"), '-A rp-x -m comment --comment "c"');
});

Deno.test("rule: the hash comment comes first, then comments, match, action", () => {
  const line = renderAppend(
    { match: Match().protocol("udp"), action: Jump("rp-y"), comment: "second" },
    "rp-x",
    { hash: "ID", hashPrefix: "p:" },
  );
  assert.equal(
    line,
    '-A rp-x -m comment --comment "p:ID" -m comment --comment "second" -p udp --jump rp-y',
  );
});

Deno.test("rule: features reach the action", () => {
  assert.equal(
    renderAppend({ action: Snat("10.0.0.1") }, "POSTROUTING", {
      features: { snatFullyRandom: true },
    }),
    "-A POSTROUTING --jump SNAT --to-source 10.0.0.1 --random-fully",
  );
});

Deno.test("comments: escaping (A.3 #68) and what is kept", () => {
  assert.equal(
    renderAppend({ comment: "boz\nfizz" }, "c"),
    '-A c -m comment --comment "boz_fizz"',
  );
  const safe = "AZaz09_ @%+=:,./-";
  assert.equal(escapeComment(safe), safe);
  for (
    const ch of ['"', "'", "\\", "\t", "\r", "\0", ";", "$", "`", "!", "#", "é", "|", "(", "*"]
  ) {
    assert.equal(escapeComment(`a${ch}b`), "a_b", JSON.stringify(ch));
  }
  // One `_` per code point, astral characters included.
  assert.equal(escapeComment("a😀b"), "a_b");
  assert.equal(
    escapeComment('x" -j ACCEPT -m comment --comment "y'),
    "x_ -j ACCEPT -m comment --comment _y",
  );
});

Deno.test("comments: cut to 256 characters after escaping (A.3 #69)", () => {
  assert.equal(escapeComment("a".repeat(257)), "a".repeat(256));
  assert.equal(escapeComment("a".repeat(256)), "a".repeat(256));
  assert.equal(escapeComment("é".repeat(300)), "_".repeat(256));
  assert.equal(
    renderAppend({ comment: "a".repeat(257) }, "c"),
    `-A c -m comment --comment "${"a".repeat(256)}"`,
  );
});
