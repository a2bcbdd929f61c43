/**
 * Evaluating REPL input: JavaScript expressions and statements over a scope
 * object holding the DSL, with no transpiler.
 *
 * Input is JavaScript, not TypeScript (type annotations are a syntax error).
 * It runs in a sloppy-mode async function whose free names resolve through
 * the scope (`with`), so `await` works at the top level, and
 * `const x = …` / `let x = …` / `var x = …` / `function f() {}` / `class C {}`
 * at the start of an input keep `x` in the scope for later inputs.
 *
 * @module
 */

/** The constructor of async functions (not a global). */
const AsyncFunction = (async function () {}).constructor as new (
  ...args: string[]
) => (...args: unknown[]) => Promise<unknown>;

const DECLARATION = /^\s*(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=([\s\S]*)$/;
const FUNCTION_DECLARATION = /^\s*(async\s+)?(function\*?|class)\s+([A-Za-z_$][\w$]*)/;

/**
 * Tells whether input is unfinished: a bracket, string, template literal or
 * block comment is still open, or the last line ends with a backslash. The
 * REPL then reads more lines before evaluating.
 *
 * @param source The input so far.
 * @returns True when more lines are needed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isIncomplete } from "@rampart/iptables/repl";
 * assert.equal(isIncomplete("chain('rp-in', ["), true); // the REPL reads another line
 * assert.equal(isIncomplete("Accept()"), false);
 * ```
 */
export function isIncomplete(source: string): boolean {
  const closers: string[] = [];
  let i = 0;
  const n = source.length;
  while (i < n) {
    const c = source[i]!;
    if (c === "/" && source[i + 1] === "/") {
      while (i < n && source[i] !== "\n") i++;
      continue;
    }
    if (c === "/" && source[i + 1] === "*") {
      const end = source.indexOf("*/", i + 2);
      if (end < 0) return true;
      i = end + 2;
      continue;
    }
    if (c === '"' || c === "'") {
      i++;
      while (i < n && source[i] !== c) {
        if (source[i] === "\\") i++;
        else if (source[i] === "\n") break;
        i++;
      }
      if (i >= n) return false; // an unterminated string is a syntax error, not more input
      i++;
      continue;
    }
    if (c === "`") {
      i++;
      while (i < n && source[i] !== "`") {
        if (source[i] === "\\") i++;
        i++;
      }
      if (i >= n) return true;
      i++;
      continue;
    }
    if (c === "(") closers.push(")");
    else if (c === "[") closers.push("]");
    else if (c === "{") closers.push("}");
    else if (c === ")" || c === "]" || c === "}") {
      if (closers.pop() !== c) return false; // mismatched: let the parser report it
    }
    i++;
  }
  return closers.length > 0 || /\\\s*$/.test(source);
}

/**
 * Evaluates inputs over a scope object. Names defined by one input are
 * visible to the next ones; assignments to undeclared names also land in the
 * scope. Reading an unknown name throws a `ReferenceError` as usual.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Evaluator } from "@rampart/iptables/repl";
 * const ev = new Evaluator({ double: (n: number) => n * 2 });
 * await ev.evaluate("const x = double(21)");
 * assert.equal(await ev.evaluate("x + await Promise.resolve(0)"), 42);
 * ```
 */
export class Evaluator {
  readonly #scope: Record<string, unknown>;
  readonly #proxy: Record<string, unknown>;

  /**
   * Creates an evaluator.
   *
   * @param scope The names in scope (the object is used and extended in place).
   */
  constructor(scope: Record<string, unknown>) {
    this.#scope = scope;
    this.#proxy = new Proxy(scope, {
      has(target, key) {
        if (typeof key !== "string") return false;
        // Globals stay globals unless the scope shadows them.
        return key in target || !(key in globalThis);
      },
      get(target, key, receiver) {
        if (key === Symbol.unscopables) return undefined;
        if (typeof key === "string" && !(key in target)) {
          throw new ReferenceError(`${key} is not defined`);
        }
        return Reflect.get(target, key, receiver);
      },
    });
  }

  /** The scope object. */
  get scope(): Record<string, unknown> {
    return this.#scope;
  }

  /**
   * Evaluates one input (expression, or statements) and resolves to its value
   * (`undefined` for statements). Promises are awaited.
   *
   * @param source The input.
   * @returns The value.
   */
  async evaluate(source: string): Promise<unknown> {
    const src = source.replace(/;\s*$/, "");
    const declaration = DECLARATION.exec(src);
    if (declaration !== null) {
      const name = declaration[1]!;
      const value = await this.#run(declaration[2]!);
      this.#scope[name] = value;
      return value;
    }
    const fn = FUNCTION_DECLARATION.exec(src);
    if (fn !== null) {
      const name = fn[3]!;
      const value = await this.#run(src);
      this.#scope[name] = value;
      return undefined;
    }
    return await this.#run(src);
  }

  async #run(src: string): Promise<unknown> {
    let compiled: (scope: unknown) => Promise<unknown>;
    try {
      compiled = new AsyncFunction("__scope", `with (__scope) { return (\n${src}\n); }`);
    } catch (e) {
      if (!(e instanceof SyntaxError)) throw e;
      // Not an expression: run it as statements.
      compiled = new AsyncFunction("__scope", `with (__scope) {\n${src}\n}`);
    }
    return await compiled(this.#proxy);
  }
}
