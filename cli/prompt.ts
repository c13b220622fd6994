// A yes/no question on stderr, answered on stdin (a terminal or a pipe: `echo y | sandboxer destroy …`).
// End of input without an answer is "no": a script that forgot --yes never destroys anything.
import readline from "node:readline";

export async function confirm(question: string): Promise<boolean> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: false });
  process.stderr.write(`${question} [y/N] `);
  try {
    const answer = await new Promise<string | null>((resolve) => {
      rl.once("line", (line) => resolve(line));
      rl.once("close", () => resolve(null));
    });
    if (answer === null) process.stderr.write("\n");
    return answer !== null && /^\s*y(es)?\s*$/i.test(answer);
  } finally {
    rl.close();
    // Let the process exit: the prompt was the only reason to read stdin.
    process.stdin.pause();
  }
}
