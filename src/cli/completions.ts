/**
 * Shell completion for `rampart` (`rampart completions bash|zsh|fish`).
 *
 * What each command takes is read from its help text (`help.ts`): its flags
 * (the option lines and the usage line), whether it takes policy files
 * (`FILES` in the usage line), and its description (the overview). So a
 * command or flag added to the help completes without a list to keep in step.
 * Flag values complete from fixed lists (tables, backends, …), `--state-dir`
 * from directories, a `FILE` value (`--from`, `--output`, `--ipsets`) from
 * files, and `--netns` from `ip netns list` when Tab is pressed.
 *
 * @module
 */
import { TABLE_NAMES } from "../../dsl/kernel_chains.ts";
import { COMMAND_NAMES, type CommandName } from "./args.ts";
import { helpText } from "./help.ts";

/** The shells `rampart completions` knows. */
export type CompletionShell = "bash" | "zsh" | "fish";

/** The shells `rampart completions` knows. */
export const COMPLETION_SHELLS: readonly CompletionShell[] = Object.freeze([
  "bash",
  "zsh",
  "fish",
]);

/** A flag as the help text describes it. */
export interface CompletionFlag {
  /** `--netns`. */
  long: string;
  /** `-n`, if it has a short form. */
  short?: string;
  /** The placeholder of its value (`NAME`), when it takes one. */
  value?: string;
}

/** A command as the help text describes it. */
export interface CompletionCommand {
  /** The command. */
  name: CommandName;
  /** Its one-line description (from `rampart --help`). */
  description: string;
  /** Its flags. */
  flags: CompletionFlag[];
  /** What its positional arguments are. */
  operands: "files" | "commands" | "shells" | "none";
}

/** Fixed value lists of flags that take one of a few values. */
const FLAG_VALUES: Record<string, readonly string[]> = {
  "--table": TABLE_NAMES,
  "--backend": ["nft", "legacy", "auto"],
  "--color": ["auto", "always", "never"],
  "--insert-mode": ["insert", "append"],
  "--rule-ids": ["stable", "chained"],
  "--confirm-timeout": ["30s", "1m", "2m", "5m"],
};

const FLAG = /(?:(-[A-Za-z0-9]), )?(--[a-z][a-z0-9-]*)(?:[ =]([A-Z][A-Z]*)\b)?/g;

/** The flags named in a help text's usage line and option lines. */
function helpFlags(text: string): CompletionFlag[] {
  const found = new Map<string, CompletionFlag>();
  const add = (part: string) => {
    for (const m of part.matchAll(FLAG)) {
      const flag: CompletionFlag = { long: m[2]! };
      if (m[1] !== undefined) flag.short = m[1];
      if (m[3] !== undefined) flag.value = m[3];
      const known = found.get(flag.long);
      found.set(flag.long, { ...flag, ...known, ...(flag.short ? { short: flag.short } : {}) });
    }
  };
  const lines = text.split("\n");
  add(lines[0] ?? "");
  for (const line of lines.slice(1)) {
    // An option line: indented, starting with a flag; its flag column ends
    // at the first gap of two spaces.
    const m = /^ {2,}(-.*?)(?: {2,}|$)/.exec(line);
    if (m !== null) add(m[1]!);
  }
  return [...found.values()];
}

/** Each command's one-line description, from the overview (`rampart --help`). */
function descriptions(): Map<string, string> {
  const out = new Map<string, string>();
  const lines = helpText("help").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^ {2}([a-z]+)(?: [^ ].*?)?(?: {2,}(.*))?$/.exec(lines[i]!);
    if (m === null || !(COMMAND_NAMES as readonly string[]).includes(m[1]!)) continue;
    // The description, with the lines it wraps onto (or that follow a long name).
    const parts = m[2] === undefined ? [] : [m[2]];
    for (let j = i + 1; j < lines.length && /^ {3,}\S/.test(lines[j]!); j++) {
      parts.push(lines[j]!.trim());
    }
    out.set(m[1]!, parts.join(" "));
  }
  out.set("help", out.get("help") ?? "help on a command");
  return out;
}

/**
 * Every command with its flags, operands and description, as the help texts
 * give them.
 *
 * @returns The commands in `rampart --help` order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { completionCommands } from "@rampart/iptables/cli";
 * const plan = completionCommands().find((c) => c.name === "plan")!;
 * assert.equal(plan.operands, "files");
 * assert.ok(plan.flags.some((f) => f.long === "--netns" && f.short === "-n"));
 * ```
 */
export function completionCommands(): CompletionCommand[] {
  const described = descriptions();
  const commands: CompletionCommand[] = COMMAND_NAMES.map((name) => {
    const text = helpText(name);
    const usage = text.split("\n")[0] ?? "";
    const operands = name === "help"
      ? "commands"
      : name === "completions"
      ? "shells"
      : /\bFILES\b/.test(usage)
      ? "files"
      : "none";
    const flags = name === "help" ? [] : helpFlags(text);
    if (!flags.some((f) => f.long === "--help")) flags.push({ long: "--help", short: "-h" });
    return { name, description: described.get(name) ?? "", flags, operands };
  });
  // A usage line names a flag without its short form (`[--yes]`): the
  // option lines of other commands give it.
  const known = new Map<string, CompletionFlag>();
  for (const c of commands) {
    for (const f of c.flags) known.set(f.long, { ...known.get(f.long), ...f });
  }
  for (const c of commands) c.flags = c.flags.map((f) => ({ ...known.get(f.long), ...f }));
  return commands;
}

/** Shell-quotes a word for bash, zsh and fish alike (single quotes). */
function quote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

function flagWords(command: CompletionCommand): string {
  return command.flags.flatMap((f) => f.short === undefined ? [f.long] : [f.long, f.short]).join(
    " ",
  );
}

/** Flags that take a value, long and short forms (`--netns|-n`). */
function valueFlags(commands: readonly CompletionCommand[]): Map<string, CompletionFlag> {
  const out = new Map<string, CompletionFlag>();
  for (const c of commands) for (const f of c.flags) if (f.value !== undefined) out.set(f.long, f);
  return out;
}

function bashScript(commands: readonly CompletionCommand[]): string {
  const names = commands.map((c) => c.name).join(" ");
  const values = [...valueFlags(commands).values()];
  const valueCases = values.map((f) => {
    const pattern = [f.long, ...(f.short === undefined ? [] : [f.short])].join("|");
    let action: string;
    if (f.long === "--netns") action = `_rampart_words "$(_rampart_netns)"`;
    else if (f.long === "--state-dir") action = `COMPREPLY=($(compgen -d -- "$cur"))`;
    else if (f.value === "FILE") action = "_rampart_any_files";
    else if (FLAG_VALUES[f.long] !== undefined) {
      action = `_rampart_words ${quote(FLAG_VALUES[f.long]!.join(" "))}`;
    } else action = "COMPREPLY=()";
    return `    ${pattern}) ${action}; return ;;`;
  }).join("\n");
  const flagCases = commands.map((c) => `    ${c.name}) flags=${quote(flagWords(c))} ;;`).join(
    "\n",
  );
  const fileCommands = commands.filter((c) => c.operands === "files").map((c) => c.name).join(
    "|",
  );
  return `# bash completion for rampart: eval "$(rampart completions bash)" in ~/.bashrc,
# or save as /etc/bash_completion.d/rampart. Generated by 'rampart completions bash'.
_rampart_netns() {
  ip netns list 2>/dev/null | while read -r name _; do printf '%s\\n' "$name"; done
}
_rampart_words() {
  local IFS=$' \\t\\n'
  COMPREPLY=($(compgen -W "$1" -- "$cur"))
}
_rampart_any_files() {
  local f
  COMPREPLY=()
  while IFS= read -r f; do COMPREPLY+=("$f"); done < <(compgen -f -- "$cur")
  compopt -o filenames 2>/dev/null
}
_rampart_files() {
  local f
  COMPREPLY=()
  while IFS= read -r f; do
    if [[ -d $f ]]; then COMPREPLY+=("$f/")
    elif [[ $f == *.yaml || $f == *.yml ]]; then COMPREPLY+=("$f")
    fi
  done < <(compgen -f -- "$cur")
  compopt -o filenames 2>/dev/null
  # A directory is completed without the space, to go on into it.
  if ((\${#COMPREPLY[@]} == 1)) && [[ \${COMPREPLY[0]} == */ ]]; then
    compopt -o nospace 2>/dev/null
  fi
}
_rampart() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  # --flag=value: bash splits it into "--flag", "=" and "value".
  if [[ $cur == = ]]; then cur=""
  elif [[ $prev == = ]]; then prev=\${COMP_WORDS[COMP_CWORD-2]}
  fi
  # The command is always the first word.
  if ((COMP_CWORD == 1)); then
    _rampart_words ${quote(`${names} --help`)}
    return
  fi
  local cmd=\${COMP_WORDS[1]}
  case $prev in
${valueCases}
  esac
  local flags=""
  case $cmd in
${flagCases}
  esac
  if [[ $cur == -* ]]; then
    _rampart_words "$flags"
    return
  fi
  case $cmd in
    ${fileCommands}) _rampart_files ;;
    help) _rampart_words ${quote(commands.map((c) => c.name).join(" "))} ;;
    completions) _rampart_words 'bash zsh fish' ;;
    *) COMPREPLY=() ;;
  esac
}
complete -F _rampart rampart
`;
}

function zshScript(commands: readonly CompletionCommand[]): string {
  const described = commands.map((c) =>
    `    ${quote(`${c.name}:${c.description.replaceAll(":", "\\:")}`)}`
  ).join("\n");
  const values = [...valueFlags(commands).values()];
  const valueCases = values.map((f) => {
    const pattern = [f.long, ...(f.short === undefined ? [] : [f.short])].join("|");
    let action: string;
    if (f.long === "--netns") action = "_rampart_netns";
    else if (f.long === "--state-dir") action = "_files -/";
    else if (f.value === "FILE") action = "_files";
    else if (FLAG_VALUES[f.long] !== undefined) {
      action = `compadd -- ${FLAG_VALUES[f.long]!.map(quote).join(" ")}`;
    } else action = "_message 'value'";
    return `    ${pattern}) ${action}; return ;;`;
  }).join("\n");
  const flagCases = commands.map((c) =>
    `    ${c.name}) flags=(${flagWords(c).split(" ").map(quote).join(" ")}) ;;`
  ).join("\n");
  const fileCommands = commands.filter((c) => c.operands === "files").map((c) => c.name).join(
    "|",
  );
  return `#compdef rampart
# zsh completion for rampart: eval "$(rampart completions zsh)" in ~/.zshrc (after
# compinit), or save as _rampart in a directory of $fpath. Generated by
# 'rampart completions zsh'.
_rampart_netns() {
  local -a names
  names=(\${\${(f)"$(ip netns list 2>/dev/null)"}%% *})
  compadd -a names
}
_rampart() {
  local -a commands flags
  commands=(
${described}
  )
  # The command is always the first word.
  if ((CURRENT == 2)); then
    if [[ $PREFIX == -* ]]; then compadd -- --help; else _describe -t commands 'rampart command' commands; fi
    return
  fi
  local cmd=$words[2]
  case $words[CURRENT-1] in
${valueCases}
  esac
  case $cmd in
${flagCases}
  esac
  if [[ $PREFIX == -* ]]; then
    compadd -- $flags
    return
  fi
  case $cmd in
    ${fileCommands}) _files -g '*.(yaml|yml)' ;;
    help) _describe -t commands 'rampart command' commands ;;
    completions) compadd -- bash zsh fish ;;
  esac
}
if [[ $funcstack[1] == _rampart ]]; then
  _rampart "$@"
else
  compdef _rampart rampart
fi
`;
}

function fishScript(commands: readonly CompletionCommand[]): string {
  const lines: string[] = [];
  for (const c of commands) {
    lines.push(
      `complete -c rampart -n __rampart_needs_command -a ${c.name} -d ${quote(c.description)}`,
    );
  }
  for (const c of commands) {
    const when = `-n ${quote(`__rampart_using_command ${c.name}`)}`;
    for (const f of c.flags) {
      let spec = `complete -c rampart ${when} -l ${f.long.slice(2)}`;
      if (f.short !== undefined) spec += ` -s ${f.short.slice(1)}`;
      if (f.value !== undefined) {
        spec += " -r";
        if (f.long === "--netns") spec += " -f -a '(__rampart_netns)'";
        else if (f.long === "--state-dir") spec += " -f -a '(__fish_complete_directories)'";
        else if (f.value === "FILE") spec += " -F";
        else if (FLAG_VALUES[f.long] !== undefined) {
          spec += ` -f -a ${quote(FLAG_VALUES[f.long]!.join(" "))}`;
        } else spec += " -f";
      }
      lines.push(spec);
    }
    if (c.operands === "files") lines.push(`complete -c rampart ${when} -a '(__rampart_files)'`);
    if (c.operands === "commands") {
      lines.push(`complete -c rampart ${when} -a ${quote(commands.map((x) => x.name).join(" "))}`);
    }
    if (c.operands === "shells") lines.push(`complete -c rampart ${when} -a 'bash zsh fish'`);
  }
  return `# fish completion for rampart: rampart completions fish > ~/.config/fish/completions/rampart.fish
# Generated by 'rampart completions fish'.
function __rampart_netns
    ip netns list 2>/dev/null | string replace -r ' .*' ''
end
function __rampart_files
    set -l token (commandline -ct)
    for f in $token*
        if test -d $f
            echo $f/
        else if string match -qr '\\.ya?ml$' -- $f
            echo $f
        end
    end
end
# The command: always the first word.
function __rampart_command
    set -l words (commandline -opc)
    test (count $words) -ge 2; and echo $words[2]
end
function __rampart_needs_command
    not __rampart_command >/dev/null
end
function __rampart_using_command
    contains -- (__rampart_command) $argv
end
complete -c rampart -f
${lines.join("\n")}
`;
}

/**
 * The completion script of a shell for `rampart`.
 *
 * @param shell `bash`, `zsh` or `fish`.
 * @returns The script (source it, or save it where the shell looks).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { completionScript } from "@rampart/iptables/cli";
 * assert.ok(completionScript("bash").includes("complete -F _rampart rampart"));
 * ```
 */
export function completionScript(shell: CompletionShell): string {
  const commands = completionCommands();
  if (shell === "bash") return bashScript(commands);
  if (shell === "zsh") return zshScript(commands);
  return fishScript(commands);
}
