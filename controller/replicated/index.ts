/** The orchestration log's replicated mode: the ledger as a CometBFT application, and each domain's execution. */
export * from './errors.js';
export * from './batch.js';
export * from './seal.js';
export * from './commit.js';
export * from './store.js';
export * from './ledger-app.js';
export * from './replicated-log.js';
