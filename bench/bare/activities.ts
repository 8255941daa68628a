/** The bare-Temporal baseline's only activity: spawn a command and wait for it. */
import { spawn } from 'node:child_process';

export async function runCommand(argv: string[]): Promise<void> {
  const [file, ...args] = argv;
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(file!, args, { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0) throw new Error(`${argv.join(' ')} exited with ${code}`);
}
