// The public surface of the SSH layer: what extensions and the manager may use. Everything else in
// lib/ssh is an implementation detail.
import "server-only";

export { SSH_ERROR_CODES, SshError, hostPort, isSshError, lastLines, tailLine, type SshErrorCode } from "./errors";
export { lineSplitter, type LineSplitter } from "./output-lines";
export { quoteArg, shellCommand } from "./shell-quote";
export { remoteWorkspacePath, validateRemotePath, validateWorkspaceRoot } from "./workspace-path";
export {
  entryMatchesHost,
  fingerprintOfKey,
  hostKeyError,
  keyTypeOfBlob,
  knownHostsLine,
  knownHostsName,
  normalizeFingerprint,
  parseKnownHosts,
  publicKeyLine,
  verifyHostKey,
  type HostKeyVerdict,
  type KnownHostsEntry,
  type KnownHostsSource,
  type ParsedKnownHosts,
  type VerifyHostKeyInput,
} from "./host-keys";
export {
  DEFAULT_CHANNEL_OPEN_TIMEOUT_MS,
  SshConnection,
  checkExitStatus,
  connect,
  exitOf,
  type ChannelExit,
  type ChannelRequest,
  type ConnectOptions,
  type ExecOptions,
  type ExecResult,
  type OpenChannelOptions,
  type PtyRequest,
} from "./connection";
export {
  DEFAULT_READY_TIMEOUT_MS,
  describeTarget,
  parseSshConfig,
  sshConfigSchema,
  type ResolvedSshConfig,
  type SshConfig,
  type SshIdentity,
  type SshTarget,
  type SshTrust,
} from "./ssh-config";
export { SshPool, type ChannelBudget, type PooledSshConnection, type SshHostStats, type SshPoolOptions, type SshPoolStats } from "./pool";
export { rsyncToRemote, type RsyncResult, type RsyncToRemoteOptions } from "./rsync";
export {
  createRemoteWorkspace,
  listRemoteRoot,
  listRemoteWorkspaces,
  remoteFreeSpace,
  remoteWorkspaceExists,
  remoteWorkspaceState,
  removeRemoteWorkspace,
  type CreateRemoteWorkspaceOptions,
  type RemoteWorkspaceOptions,
  type RemoteRootListing,
  type RemoteWorkspaceState,
} from "./remote-workspace";
