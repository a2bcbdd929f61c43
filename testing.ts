/**
 * Test helpers: an in-memory dataplane that behaves like iptables-restore and
 * iptables-save, for testing code that uses a {@linkcode Table} without
 * touching the kernel.
 *
 * @module
 */

export * from "./src/fake/fake_dataplane.ts";
