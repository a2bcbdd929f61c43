/**
 * Which network namespaces exist (`src/host/network_namespaces.ts`, shared
 * with the CLI's `--netns`), as the REPL exports them.
 *
 * @module
 */
export {
  checkNamespace,
  namespaceProblem,
  networkNamespaces,
  UnknownNamespaceError,
} from "../host/network_namespaces.ts";
