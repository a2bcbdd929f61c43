/**
 * Programs in a real terminal: a detached tmux session on a private server
 * (its own socket), typed into with `send-keys` and read with
 * `capture-pane`. Always `kill()` it (the server goes with its last session).
 */

/** Whether tmux is installed. */
export async function hasTmux(): Promise<boolean> {
  return await hasCommand("tmux", ["-V"]);
}

/** Whether a program runs (`name args` exits 0). */
export async function hasCommand(name: string, args: string[] = ["--version"]): Promise<boolean> {
  try {
    return (await new Deno.Command(name, { args, stdout: "null", stderr: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

/**
 * Fails when a tool a test needs is missing in CI (`CI=true`); elsewhere
 * returns false with a loud notice, and the test returns early.
 */
export async function requireTool(name: string, args?: string[]): Promise<boolean> {
  if (await hasCommand(name, args)) return true;
  if (Deno.env.get("CI") === "true") throw new Error(`${name} is not installed (CI needs it)`);
  console.error(
    `\n!!! ${name} is not installed: its test did NOT run (apt-get install -y ${name})\n`,
  );
  return false;
}

async function tmuxRun(socket: string, args: string[]): Promise<Deno.CommandOutput> {
  return await new Deno.Command("tmux", {
    args: ["-L", socket, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
}

/** A tmux session running one command in a `columns`×`rows` terminal. */
export class TmuxSession {
  readonly socket: string;
  readonly name = "t";
  /** Where `waitFor` looks from (an offset in the captured screen and scrollback). */
  seen = 0;

  private constructor(socket: string) {
    this.socket = socket;
  }

  /**
   * Starts `command` (a shell command line) in a new detached session. The
   * server of a session that just ended may still be exiting, and a new
   * session asked of it is lost: retried until the session exists.
   */
  static async start(
    command: string,
    options: { columns?: number; rows?: number } = {},
  ): Promise<TmuxSession> {
    const session = new TmuxSession(`rp-${crypto.randomUUID().slice(0, 8)}`);
    let lost = 0;
    for (let attempt = 0; attempt < 50 && lost < 5; attempt++) {
      const r = await tmuxRun(session.socket, [
        "new-session",
        "-d",
        "-s",
        session.name,
        "-x",
        String(options.columns ?? 200),
        "-y",
        String(options.rows ?? 50),
        command,
      ]);
      const has = await tmuxRun(session.socket, ["has-session", "-t", session.name]);
      if (r.success && has.success) return session;
      if (r.success) lost++;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await session.kill();
    throw new Error(`tmux could not start ${command} (${lost} started and vanished)`);
  }

  /** The screen and up to 300 lines of scrollback, wrapped lines joined. */
  async screen(): Promise<string> {
    const r = await tmuxRun(this.socket, [
      "capture-pane",
      "-p",
      "-J",
      "-S",
      "-300",
      "-t",
      this.name,
    ]);
    return new TextDecoder().decode(r.stdout);
  }

  /** The visible screen only (no scrollback), as it is now. */
  async visible(): Promise<string> {
    const r = await tmuxRun(this.socket, ["capture-pane", "-p", "-t", this.name]);
    return new TextDecoder().decode(r.stdout);
  }

  /**
   * Waits until the screen (after `seen`) shows `text`, then moves `seen` to
   * it. Gives up after about 30 s with the screen in the error.
   */
  async waitFor(text: string | RegExp, options: { tries?: number } = {}): Promise<string> {
    const tries = options.tries ?? 300;
    for (let i = 0; i < tries; i++) {
      const s = await this.screen();
      const rest = s.slice(this.seen);
      const at = typeof text === "string" ? rest.indexOf(text) : rest.search(text);
      if (at >= 0) {
        this.seen += at;
        return s;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`Timed out waiting for ${text}; screen:\n${await this.screen()}`);
  }

  /** Waits until `test` holds for the visible screen; returns that screen. */
  async waitUntil(test: (screen: string) => boolean, what: string): Promise<string> {
    for (let i = 0; i < 300; i++) {
      const s = await this.visible();
      if (test(s)) return s;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`Timed out waiting for ${what}; screen:\n${await this.visible()}`);
  }

  /** Types text literally. */
  async type(text: string): Promise<void> {
    await tmuxRun(this.socket, ["send-keys", "-t", this.name, "-l", text]);
  }

  /** Types a line and Enter. */
  async line(text: string): Promise<void> {
    await this.type(text);
    await this.keys("Enter");
  }

  /** Sends tmux key names (`Tab`, `C-c`, `Enter`, `Up`). */
  async keys(...keys: string[]): Promise<void> {
    await tmuxRun(this.socket, ["send-keys", "-t", this.name, ...keys]);
  }

  /** Pastes text as one paste (a bracketed paste when the program asked for it). */
  async paste(text: string): Promise<void> {
    const buffer = `b${crypto.randomUUID().slice(0, 6)}`;
    await tmuxRun(this.socket, ["set-buffer", "-b", buffer, text]);
    await tmuxRun(this.socket, ["paste-buffer", "-d", "-p", "-b", buffer, "-t", this.name]);
  }

  /** A tmux format of the pane (`#{cursor_flag}`, `#{alternate_on}`, …). */
  async format(format: string): Promise<string> {
    const r = await tmuxRun(this.socket, ["display-message", "-p", "-t", this.name, format]);
    return new TextDecoder().decode(r.stdout).trim();
  }

  /** Whether the session still runs (its command has not exited). */
  async alive(): Promise<boolean> {
    return (await tmuxRun(this.socket, ["has-session", "-t", this.name])).success;
  }

  /** Waits for the command to exit (the session ends with it). */
  async waitExit(): Promise<void> {
    for (let i = 0; i < 300 && await this.alive(); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    if (await this.alive()) throw new Error(`The command did not exit:\n${await this.visible()}`);
  }

  /** Ends the session and its server, and removes the server's socket file. */
  async kill(): Promise<void> {
    const path = (await this.format("#{socket_path}").catch(() => "")) ||
      `${Deno.env.get("TMUX_TMPDIR") || "/tmp"}/tmux-${Deno.uid()}/${this.socket}`;
    await tmuxRun(this.socket, ["kill-server"]);
    await Deno.remove(path).catch(() => {});
  }
}
