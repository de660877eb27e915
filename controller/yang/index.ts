/**
 * controller/yang: esfc's YANG modules as a schema tree, and what the
 * RESTCONF server does with it: parse resource paths, decode and check
 * request bodies (RFC 7951 JSON), check leafrefs across the datastore, and
 * encode replies. The schema comes from the .yang files in ./modules at
 * run time; nothing here restates it.
 *
 *   const tree = loadSchema();
 *   const p = parseResourcePath(tree, '/esfc-intent:chains/chain=web');
 *   const j = parseJsonText(body);
 *   const d = decode(tree, j.value, { target: p.target });
 *   ... validateReferences(tree, candidateDatastore) ... encode(tree, value, { target })
 */
export { loadSchema, modulesDir, readModuleSources, YangModulesNotFoundError } from './load.js';
export { buildSchema, YangSchemaError, type ModuleSource } from './build-schema.js';
export { parseStatements, YangSyntaxError, type Statement, type SourceLocation } from './statements.js';
export { compileXsdPattern, xsdToJsSource, XsdPatternError } from './xsd-regex.js';
export type {
  ContainerNode, DataNode, InnerNode, LeafLike, LeafListNode, LeafNode, ListNode, ModuleInfo, RpcNode, SchemaTree, ValueType, YangType,
} from './schema.js';
export { findChild, findModule, findOperation, memberName } from './schema.js';
export { parseJsonText, type JsonValue, type JsonParseResult } from './json-text.js';
export { decode, decodeInput, inputMember, DATASTORE_MEMBER, type DecodeOptions, type DecodeResult } from './decode.js';
export { encode, encodeOutput, outputMember, YangEncodeError, type EncodeOptions, type JsonObject } from './encode.js';
export {
  DATASTORE, findEntry, parseResourcePath, selectTarget, targetKind, targetNode,
  type PathResult, type ResourceTarget, type TargetKind, type TargetStep,
} from './resource-path.js';
export { instanceIdentifier, resourcePath, encodeKey, type DataPath, type PathStep } from './data-path.js';
export { errorsDocument, httpStatus, restconfError, type ErrorsDocument, type ErrorTag, type ErrorType, type RestconfError } from './errors.js';
export { validateParameterReferences, validateReferences } from './references.js';
export { fillDocument, fillEntry, fillNode } from './defaults.js';
export { describeType, fromJs, fromJson, fromLexical, toJson, toLexical, type YangScalar } from './values.js';
export { isYangObject, type YangObject, type YangValue } from './yang-value.js';
