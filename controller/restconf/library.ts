/**
 * What a RESTCONF client discovers before it touches data: host-meta (RFC
 * 6415 XRD pointing at /restconf), the API root, the YANG library (RFC 8525:
 * every module the server implements or imports, with where to fetch its
 * source) and the event streams (ietf-restconf-monitoring).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { SchemaTree } from '../yang/index.js';

export interface LibraryModule {
  name: string;
  revision: string;
  namespace: string;
  source: string;
  implemented: boolean;
}

/** The IETF modules the protocol itself uses (served, not parsed): RESTCONF, its monitoring, the library, the change notification. */
const SERVED_DIR = fileURLToPath(new URL('../../../controller/yang/served/', import.meta.url));
const SERVED_IMPLEMENTED = new Set(['ietf-restconf', 'ietf-restconf-monitoring', 'ietf-yang-library', 'ietf-netconf-notifications']);
/** Our own modules that hold data; the rest of ../yang/modules is imported only. */
const OURS_IMPLEMENTED = new Set(['esfc-intent', 'esfc-state']);

export const DATASTORE_STREAM = 'esfc-datastore';

function statementArg(source: string, keyword: string): string {
  const m = new RegExp(`^\\s*${keyword}\\s+"?([^";\\s]+)`, 'm').exec(source);
  return m?.[1] ?? '';
}

export function libraryModules(tree: SchemaTree): LibraryModule[] {
  const ours = tree.modules.map((m) => ({ name: m.name, revision: m.revision ?? '', namespace: m.namespace, source: m.source, implemented: OURS_IMPLEMENTED.has(m.name) }));
  const served = readdirSync(SERVED_DIR).filter((f) => f.endsWith('.yang')).sort().map((f) => {
    const source = readFileSync(`${SERVED_DIR}${f}`, 'utf8');
    const name = statementArg(source, 'module');
    return { name, revision: statementArg(source, 'revision'), namespace: statementArg(source, 'namespace'), source, implemented: SERVED_IMPLEMENTED.has(name) };
  });
  return [...ours, ...served];
}

export const moduleLocation = (base: string, m: { name: string; revision: string }): string => `${base}/restconf/yang/${m.name}@${m.revision}.yang`;

export function yangLibrary(mods: readonly LibraryModule[], base: string): Record<string, unknown> {
  const entry = (m: LibraryModule) => ({ name: m.name, revision: m.revision, namespace: m.namespace, location: [moduleLocation(base, m)] });
  const contentId = createHash('sha256').update(mods.map((m) => `${m.name}@${m.revision}`).join(',')).digest('hex').slice(0, 16);
  return {
    'ietf-yang-library:yang-library': {
      'module-set': [{
        name: 'esfc',
        module: mods.filter((m) => m.implemented).map(entry),
        'import-only-module': mods.filter((m) => !m.implemented).map(entry),
      }],
      schema: [{ name: 'esfc', 'module-set': ['esfc'] }],
      datastore: [
        { name: 'ietf-datastores:running', schema: 'esfc' },
        { name: 'ietf-datastores:operational', schema: 'esfc' },
      ],
      'content-id': contentId,
    },
  };
}

export function hostMeta(): string {
  return '<?xml version="1.0" encoding="UTF-8"?>\n<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n  <Link rel="restconf" href="/restconf"/>\n</XRD>\n';
}

export function apiRoot(): Record<string, unknown> {
  return { 'ietf-restconf:restconf': { data: {}, operations: {}, 'yang-library-version': '2019-01-04' } };
}

export function restconfState(base: string): Record<string, unknown> {
  return {
    'ietf-restconf-monitoring:restconf-state': {
      capabilities: {
        capability: [
          'urn:ietf:params:restconf:capability:depth:1.0',
          'urn:ietf:params:restconf:capability:fields:1.0',
        ],
      },
      streams: {
        stream: [{
          name: DATASTORE_STREAM,
          description: 'Changes of the intent datastore (ietf-netconf-notifications:netconf-config-change), one event per accepted write',
          'replay-support': false,
          access: [{ encoding: 'json', location: `${base}/restconf/streams/${DATASTORE_STREAM}/json` }],
        }],
      },
    },
  };
}
