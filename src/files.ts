/** Reading files Strata writes itself: task and deployment logs. */
import fs from 'node:fs';

/** The last `bytes` of a log file, for failure events and the API's log views. */
export function tailOfFile(file: string, bytes = 2000): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const length = Math.min(size, bytes);
      const buffer = Buffer.alloc(length);
      fs.readSync(fd, buffer, 0, length, size - length);
      return buffer.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}
