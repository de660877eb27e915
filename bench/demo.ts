export async function demoCommand(_a: string[]): Promise<number> { return 2; }
