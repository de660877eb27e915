/** The orchestration log's pure core and embedded store (docs/ledger.md). */
export * from './codec.js';
export * from './hash.js';
export * from './keys.js';
export { checkEd25519, Ed25519LibraryError } from './ed25519.js';
export * from './transaction.js';
export * from './merkle.js';
export * from './canonical-json.js';
export * from './block.js';
export * from './genesis.js';
export * from './validate.js';
export * from './log-file.js';
export * from './chain-check.js';
export * from './request-path.js';
export * from './embedded-store.js';
export * from './audit.js';
