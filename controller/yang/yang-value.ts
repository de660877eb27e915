/**
 * Decoded YANG data as the controller holds it: plain JS values shaped like
 * RFC 7951 JSON (the same member names: qualified at the top level and
 * where the module changes), with 64-bit integers as bigint and empty as
 * null. decode() produces it, encode() turns it back into JSON.
 */
import type { YangScalar } from './values.js';

export interface YangObject {
  [member: string]: YangValue;
}

export type YangValue = YangScalar | YangValue[] | YangObject;

export const isYangObject = (v: unknown): v is YangObject => typeof v === 'object' && v !== null && !Array.isArray(v);
