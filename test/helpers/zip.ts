/** Hand-made ZIP files for hostile-input tests: the entries a well-behaved writer refuses to make. */
import zlib from 'node:zlib';

export interface RawEntry {
  name: string;
  data?: Buffer;
  deflate?: boolean;
  /** The uncompressed size written in the headers; the real one when omitted. */
  declaredSize?: number;
  /** Unix mode in the upper 16 bits (0o100644 when omitted). */
  mode?: number;
  /** General purpose flags; bit 0 = encrypted. UTF-8 names (bit 11) are always set. */
  flags?: number;
  crc?: number;
}

/**
 * A minimal ZIP writer for entries yazl refuses to write (`../x`, absolute, backslashes, lying sizes,
 * encryption flag). Layout (APPNOTE 4.3): for each entry a 30-byte local file header + name + data,
 * then a 46-byte central directory header + name for each, then the 22-byte end-of-central-directory.
 */
export function rawZip(entries: RawEntry[]): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const data = e.data ?? Buffer.alloc(0);
    const body = e.deflate ? zlib.deflateRawSync(data) : data;
    const flags = (e.flags ?? 0) | 0x800;
    const method = e.deflate ? 8 : 0;
    const crc = e.crc ?? zlib.crc32(data);
    const size = e.declaredSize ?? data.length;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0); // signature
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(0, 10); // time 00:00
    local.writeUInt16LE(0x21, 12); // date 1980-01-01
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18); // compressed size
    local.writeUInt32LE(size, 22); // uncompressed size
    local.writeUInt16LE(name.length, 26); // extra field length stays 0
    const cdh = Buffer.alloc(46);
    cdh.writeUInt32LE(0x02014b50, 0); // signature
    cdh.writeUInt16LE(0x0314, 4); // made by: Unix (3), spec 2.0
    cdh.writeUInt16LE(20, 6);
    cdh.writeUInt16LE(flags, 8);
    cdh.writeUInt16LE(method, 10);
    cdh.writeUInt16LE(0, 12);
    cdh.writeUInt16LE(0x21, 14);
    cdh.writeUInt32LE(crc, 16);
    cdh.writeUInt32LE(body.length, 20);
    cdh.writeUInt32LE(size, 24);
    cdh.writeUInt16LE(name.length, 28); // extra, comment, disk, internal attrs stay 0
    cdh.writeUInt32LE(((e.mode ?? 0o100644) << 16) >>> 0, 38); // external attributes
    cdh.writeUInt32LE(offset, 42); // local header offset
    parts.push(local, name, body);
    central.push(cdh, name);
    offset += local.length + name.length + body.length;
  }
  const cd = Buffer.concat(central);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, cd, eocd]);
}
