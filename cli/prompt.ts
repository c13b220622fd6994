// A yes/no question on stderr, answered on stdin (a terminal or a pipe: `echo y | sandboxer destroy …`).
// End of input without an answer is "no answer": a script that forgot --yes never destroys anything,
// and the caller can tell it how to confirm.
import readline from "node:readline";

export async function confirm(question: string): Promise<"yes" | "no" | "no answer"> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: false });
  process.stderr.write(`${question} [y/N] `);
  try {
    const answer = await new Promise<string | null>((resolve) => {
      rl.once("line", (line) => resolve(line));
      rl.once("close", () => resolve(null));
    });
    if (answer === null) {
      process.stderr.write("\n");
      return "no answer";
    }
    return /^\s*y(es)?\s*$/i.test(answer) ? "yes" : "no";
  } finally {
    rl.close();
    // Let the process exit: the prompt was the only reason to read stdin.
    process.stdin.pause();
  }
}
