// A deploy's command as the form takes it: one line, split into argv as a POSIX shell
// would split it (shlex: quotes and backslashes group and escape), with nothing
// expanded — `$HOME`, `*` and `|` stay as written, since the deployer runs the argv
// itself, not through a shell (`sh -c "…"` asks for one).

import { split } from "shlex";

export type Argv = { argv: string[]; error: null } | { argv: null; error: string };

export function commandArgv(text: string): Argv {
  try {
    return { argv: split(text), error: null };
  } catch (exc) {
    const why = exc instanceof Error ? exc.message : String(exc);
    return { argv: null, error: `command: ${/EOF/.test(why) ? "a quote is not closed" : why}` };
  }
}
