/**
 * `runCli` in process on a `FakeDataplane`: the environment, and a runner of
 * command lines that returns the exit code and both outputs.
 */
import { type CliEnvironment, runCli } from "../../cli.ts";
import type { CommandRunner } from "../../mod.ts";

/** A CLI environment that records stdout and stderr and answers questions from a list. */
export function recordingEnv(
  runner: CommandRunner,
  answers: string[] = [],
): CliEnvironment & { out: string; err: string } {
  const env = {
    out: "",
    err: "",
    stdout(t: string) {
      env.out += t;
    },
    stderr(t: string) {
      env.err += t;
    },
    interactive: answers.length > 0,
    stdoutIsTerminal: false,
    ask(q: string) {
      env.err += q;
      return Promise.resolve(answers.shift());
    },
    runnerFor: () => runner,
    env: () => undefined,
    uid: 0,
  };
  return env;
}

/** Runs `rampart …` in process against `runner`. */
export async function runOn(
  runner: CommandRunner,
  argv: string[],
): Promise<{ code: number; out: string; err: string }> {
  const env = recordingEnv(runner);
  const code = await runCli(argv, env);
  return { code, out: env.out, err: env.err };
}
