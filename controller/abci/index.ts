/** The replicated mode's ABCI side: server (wire), application interface, CometBFT processes and RPC. */
export * from './application.js';
export { AbciServer, AbciServerError, AbciApplicationError, parseAbciAddress, type AbciServerOptions, type ListenAddress } from './server.js';
export { AbciFramingError, FrameDecoder, frame } from './framing.js';
export { AbciDecodeError } from './proto.js';
export * from './rpc.js';
export * from './cometbft-node.js';
