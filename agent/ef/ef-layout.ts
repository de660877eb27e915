/**
 * Codecs for the EF glue's maps (C: struct esfc_ef_* in bpf/include/esfc_shared.h,
 * maps in bpf/lib/ef.h), checked against the BTF of esfc_ef.o by a test.
 */
import { StructCodec } from '../datapath/struct-codec.js';

export const EF_MARK_BASE = 0xe5000000;
export const EF_MARK_MASK = 0xff000000;
export const EfDir = { out: 1, in: 2 } as const;
export const EF_STAT_MAX = 16;

export interface EsfcEfConfig { abi_version: number; md3_type: number; ifindex: number; nsh_ttl: number }
export interface EsfcEfEncrypt { mark: number; espi: number }
export interface EsfcEfDecrypt { mark: number }
export interface EsfcEfSa { dir: number; spi: number; si: number; espi: number; esi: number; epoch: number; reqid: number }

export const efConfigCodec = new StructCodec<EsfcEfConfig>('esfc_ef_config', 16, [
  { name: 'abi_version', offset: 0, type: 'u32' },
  { name: 'md3_type', offset: 4, type: 'u32' },
  { name: 'ifindex', offset: 8, type: 'u32' },
  { name: 'nsh_ttl', offset: 12, type: 'u32' },
]);

export const efEncryptCodec = new StructCodec<EsfcEfEncrypt>('esfc_ef_encrypt', 8, [
  { name: 'mark', offset: 0, type: 'u32' },
  { name: 'espi', offset: 4, type: 'u32' },
]);

export const efDecryptCodec = new StructCodec<EsfcEfDecrypt>('esfc_ef_decrypt', 8, [
  { name: 'mark', offset: 0, type: 'u32' },
]);

export const efSaCodec = new StructCodec<EsfcEfSa>('esfc_ef_sa', 32, [
  { name: 'dir', offset: 0, type: 'u32' },
  { name: 'spi', offset: 4, type: 'u32' },
  { name: 'si', offset: 8, type: 'u32' },
  { name: 'espi', offset: 12, type: 'u32' },
  { name: 'esi', offset: 16, type: 'u32' },
  { name: 'epoch', offset: 20, type: 'u32' },
  { name: 'reqid', offset: 24, type: 'u32' },
]);

export const efCodecs: readonly StructCodec<object>[] = [efConfigCodec, efEncryptCodec, efDecryptCodec, efSaCodec] as readonly StructCodec<object>[];

export const EfMapName = {
  config: 'esfc_ef_config',
  encrypt: 'esfc_ef_encrypt',
  decrypt: 'esfc_ef_decrypt',
  sas: 'esfc_ef_sas',
  counters: 'esfc_ef_counters',
} as const;
export type EfMapName = (typeof EfMapName)[keyof typeof EfMapName];

/** Mark and reqid that bind an EF pair's policy and SAs: one per E-SPI. */
export const pairMark = (espi: number): number => (EF_MARK_BASE | espi) >>> 0;
export const isEsfcReqid = (reqid: number): boolean => ((reqid & EF_MARK_MASK) >>> 0) === EF_MARK_BASE;
