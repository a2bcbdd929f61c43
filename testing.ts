/**
 * Test helpers: an in-memory dataplane that behaves like iptables-restore and
 * iptables-save, for testing code that uses a {@linkcode Table} without
 * touching the kernel; and policy unit tests (`assertVerdict`), which check
 * what a policy does to a packet with no kernel and no root.
 *
 * @module
 */

export * from "./src/fake/fake_dataplane.ts";
export * from "./src/trace/assert.ts";
