/**
 * The agent reads the node's interfaces from an RTM_GETLINK dump: in a
 * namespace with two veth pairs (one with a chosen MAC and MTU) and a bridge, it sees exactly what
 * `ip -d -j link` sees (names, ifindexes, MACs, MTUs, kinds); a malformed
 * dump entry is refused, not half-read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { decodeLink, RTNL } from '../../agent/node/links.js';
import { XfrmDecodeError } from '../../agent/xfrm/xfrm-errors.js';

const isRoot = process.getuid?.() === 0;
const LINKS = fileURLToPath(new URL('../../agent/node/links.js', import.meta.url));
const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });

test('the link dump matches ip -d -j link in a namespace', { skip: isRoot ? false : 'needs root (namespaces)' }, () => {
  const ns = `esfc-links-${process.pid}`;
  ip('netns', 'add', ns);
  try {
    ip('-n', ns, 'link', 'add', 'va', 'mtu', '1600', 'type', 'veth', 'peer', 'name', 'vb');
    ip('-n', ns, 'link', 'add', 'd0', 'address', '02:00:00:aa:bb:cc', 'type', 'veth', 'peer', 'name', 'd1');
    ip('-n', ns, 'link', 'add', 'br0', 'type', 'bridge');
    const script = `import(${JSON.stringify(LINKS)}).then(async (m) => process.stdout.write(JSON.stringify([...(await m.listLinks()).values()])))`;
    const ours = JSON.parse(execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { encoding: 'utf8' })) as { name: string }[];
    const theirs = (JSON.parse(ip('-n', ns, '-d', '-j', 'link', 'show')) as { ifname: string; ifindex: number; address?: string; mtu: number; linkinfo?: { info_kind?: string } }[])
      .map((l) => ({ name: l.ifname, ifindex: l.ifindex, mac: l.address ?? '00:00:00:00:00:00', mtu: l.mtu, kind: l.linkinfo?.info_kind ?? '' }));
    const byName = (a: { name: string }, b: { name: string }): number => a.name.localeCompare(b.name);
    assert.deepEqual(ours.sort(byName), theirs.sort(byName));
    assert.deepEqual(ours.map((l) => l.name).sort(), ['br0', 'd0', 'd1', 'lo', 'va', 'vb']);
  } finally {
    ip('netns', 'del', ns);
  }
});

test('a link entry with an attribute running past its end is refused', () => {
  const msg = Buffer.alloc(RTNL.IFINFOMSG_SIZE + 8);
  msg.writeInt32LE(7, 4);
  msg.writeUInt16LE(40, RTNL.IFINFOMSG_SIZE); // nla_len 40 in an 8-byte tail
  msg.writeUInt16LE(RTNL.IFLA_IFNAME, RTNL.IFINFOMSG_SIZE + 2);
  assert.throws(() => decodeLink(msg), XfrmDecodeError);
  assert.equal(decodeLink(Buffer.alloc(4)), undefined, 'shorter than ifinfomsg: not a link');
});
