/**
 * A real simple_switch_grpc for tests: started on given interfaces of the
 * test's namespace, the committed program pushed over P4Runtime, stopped
 * (process and files) on close, also when a test fails.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBmv2, startBmv2, stopBmv2, type Bmv2Handle, type Bmv2Port } from '../../agent/p4/bmv2-process.js';
import { p4Paths, type P4Paths } from '../../agent/p4/p4-paths.js';
import { P4Info, type P4InfoJson } from '../../agent/p4/p4info.js';
import { P4RuntimeClient } from '../../agent/p4/p4runtime-client.js';

/** Why a BMv2 suite cannot run here (BMv2 not installed), or false: for a suite's skip option. */
export function bmv2Missing(): string | false {
  try {
    p4Paths();
    return false;
  } catch (e) {
    return (e as Error).message;
  }
}

let port = 19559 + (process.pid % 1000) * 4;

export class Bmv2Harness {
  private constructor(
    readonly paths: P4Paths,
    readonly dir: string,
    readonly address: string,
    readonly handle: Bmv2Handle,
    readonly client: P4RuntimeClient,
    readonly p4info: P4Info,
  ) {}

  static loadP4Info(paths: P4Paths = p4Paths()): P4Info {
    return new P4Info(JSON.parse(readFileSync(paths.p4infoJson, 'utf8')) as P4InfoJson);
  }

  /** BMv2 on `ports` with esfc's program loaded (cookie 1). */
  static async start(ports: readonly Bmv2Port[], opts: { pipeline?: boolean } = {}): Promise<Bmv2Harness> {
    const paths = p4Paths();
    // P4Runtime listens on loopback, which a fresh namespace has down.
    execFileSync('ip', ['link', 'set', 'lo', 'up']);
    const p4info = Bmv2Harness.loadP4Info(paths);
    const dir = mkdtempSync(join(tmpdir(), 'esfc-bmv2-'));
    const address = `127.0.0.1:${port++}`;
    const handle = await startBmv2({
      binary: paths.bmv2, ports, grpcAddress: address, deviceId: 1,
      logFile: join(dir, 'bmv2.log'), pidFile: join(dir, 'bmv2.pid'),
    });
    let client: P4RuntimeClient;
    try {
      client = await P4RuntimeClient.connect({ address, protoDir: paths.protoDir, p4info, deviceId: 1 });
      if (opts.pipeline !== false) await client.setPipeline(readFileSync(paths.programJson), 1n);
    } catch (e) {
      await stopBmv2(join(dir, 'bmv2.pid'));
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    return new Bmv2Harness(paths, dir, address, handle, client, p4info);
  }

  get pidFile(): string {
    return join(this.dir, 'bmv2.pid');
  }

  alive(): boolean {
    return findBmv2(this.pidFile) !== undefined;
  }

  async close(): Promise<void> {
    this.client.close();
    await stopBmv2(this.pidFile);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
