/**
 * libbpf (1.1 on Debian 12, 1.5 on Debian 13) and the libc calls around it,
 * through koffi. Structs whose layout libbpf versions size-check (`sz`) are
 * built as plain Buffers here; pointers inside them come from koffi.alloc.
 */
import koffi from 'koffi';

const libbpf = koffi.load('libbpf.so.1');
const libc = koffi.load('libc.so.6');

type Ptr = unknown;

export const ffi = {
  // libc
  errnoLocation: libc.func('int *__errno_location(void)') as () => Ptr,
  strerror: libc.func('const char *strerror(int errnum)') as (e: number) => string,
  close: libc.func('int close(int fd)') as (fd: number) => number,
  memcpyIn: libc.func('void *memcpy(void *dst, const void *src, size_t n)') as (dst: Ptr, src: Buffer, n: number) => Ptr,
  // objects
  objectOpenFile: libbpf.func('void *bpf_object__open_file(const char *path, const void *opts)') as (path: string, opts: Buffer | null) => Ptr,
  objectLoad: libbpf.func('int bpf_object__load(void *obj)') as (obj: Ptr) => number,
  objectClose: libbpf.func('void bpf_object__close(void *obj)') as (obj: Ptr) => void,
  findProgram: libbpf.func('void *bpf_object__find_program_by_name(void *obj, const char *name)') as (obj: Ptr, name: string) => Ptr,
  programFd: libbpf.func('int bpf_program__fd(void *prog)') as (prog: Ptr) => number,
  programSetLogBuf: libbpf.func('int bpf_program__set_log_buf(void *prog, void *buf, size_t size)') as (prog: Ptr, buf: Ptr, size: number) => number,
  findMap: libbpf.func('void *bpf_object__find_map_by_name(void *obj, const char *name)') as (obj: Ptr, name: string) => Ptr,
  mapFd: libbpf.func('int bpf_map__fd(void *map)') as (map: Ptr) => number,
  numPossibleCpus: libbpf.func('int libbpf_num_possible_cpus(void)') as () => number,
  // fds and pins
  objGet: libbpf.func('int bpf_obj_get(const char *path)') as (path: string) => number,
  objPin: libbpf.func('int bpf_obj_pin(int fd, const char *path)') as (fd: number, path: string) => number,
  objGetInfoByFd: libbpf.func('int bpf_obj_get_info_by_fd(int fd, void *info, _Inout_ uint32_t *len)') as (fd: number, info: Buffer, len: number[]) => number,
  // maps
  mapUpdate: libbpf.func('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)') as (fd: number, k: Buffer, v: Buffer, f: number) => number,
  mapLookup: libbpf.func('int bpf_map_lookup_elem(int fd, const void *key, void *value)') as (fd: number, k: Buffer, v: Buffer) => number,
  mapDelete: libbpf.func('int bpf_map_delete_elem(int fd, const void *key)') as (fd: number, k: Buffer) => number,
  mapNextKey: libbpf.func('int bpf_map_get_next_key(int fd, const void *key, void *next)') as (fd: number, k: Buffer | null, n: Buffer) => number,
  mapLookupBatch: libbpf.func('int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, _Inout_ uint32_t *count, const void *opts)') as
    (fd: number, inBatch: Buffer | null, outBatch: Buffer, keys: Buffer, values: Buffer, count: number[], opts: null) => number,
  // links and tc
  linkCreate: libbpf.func('int bpf_link_create(int prog_fd, int target_fd, int attach_type, const void *opts)') as (p: number, t: number, a: number, o: null) => number,
  linkUpdate: libbpf.func('int bpf_link_update(int link_fd, int new_prog_fd, const void *opts)') as (l: number, p: number, o: null) => number,
  linkDetach: libbpf.func('int bpf_link_detach(int link_fd)') as (l: number) => number,
  tcHookCreate: libbpf.func('int bpf_tc_hook_create(void *hook)') as (hook: Buffer) => number,
  tcAttach: libbpf.func('int bpf_tc_attach(const void *hook, void *opts)') as (hook: Buffer, opts: Buffer) => number,
  tcDetach: libbpf.func('int bpf_tc_detach(const void *hook, const void *opts)') as (hook: Buffer, opts: Buffer) => number,
  tcQuery: libbpf.func('int bpf_tc_query(const void *hook, void *opts)') as (hook: Buffer, opts: Buffer) => number,
  testRun: libbpf.func('int bpf_prog_test_run_opts(int prog_fd, void *opts)') as (fd: number, opts: Buffer) => number,
};

export function errno(): number {
  return (koffi.decode(ffi.errnoLocation(), 'int') as number) ?? 0;
}

/** libbpf 1.x returns -errno from int functions; pointer functions set errno. */
export function errText(code: number): string {
  return `${ffi.strerror(Math.abs(code))} (errno ${Math.abs(code)})`;
}

export function alloc(size: number): Ptr {
  return koffi.alloc('uint8', Math.max(size, 1));
}

export function free(p: Ptr): void {
  koffi.free(p);
}

export function address(p: Ptr): bigint {
  return koffi.address(p) as bigint;
}

export function readBytes(p: Ptr, size: number): Buffer {
  return size > 0 ? Buffer.from(koffi.decode(p, 'uint8', size) as Uint8Array) : Buffer.alloc(0);
}

export function isNull(p: Ptr): boolean {
  return p === null || address(p) === 0n;
}

/** enum bpf_attach_type values used here (uapi; stable). */
export const AttachType = { xdp: 37, tcxIngress: 46, tcxEgress: 47 } as const;
