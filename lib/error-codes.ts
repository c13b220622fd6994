// Every error code the server can produce, with the HTTP status an API response carries for it and
// when it is thrown. The code union (`ErrorCode`), the HTTP mapping (lib/http-errors.ts) and `hasCode`
// all come from this one table, so a typo in a code is a compile error and a new code cannot be
// thrown without saying what it means. Extensions outside this repository may define codes of their
// own (see docs/extension-sdk.md); those answer 500 over HTTP and are matched by string.

export interface ErrorCodeSpec {
  /** The status of an API response carrying this code. */
  status: number;
  /** When it is thrown, for people reading logs and the API reference. */
  description: string;
}

export const ERROR_CODES = {
  // ─── Requests ──────────────────────────────────────────────────────────────────────────────────
  VALIDATION_FAILED: { status: 400, description: "Input failed validation; `fieldErrors` names each bad field." },
  UNAUTHENTICATED: { status: 401, description: "No valid session or API token was presented." },
  FORBIDDEN: { status: 403, description: "The caller is signed in, but the policy does not allow the action." },
  NOT_FOUND: { status: 404, description: "A sandbox, profile, host, user or other named thing does not exist." },
  INTERNAL: { status: 500, description: "An unexpected error; the server log has the details, the response never does." },
  CONFIG_INVALID: { status: 500, description: "Configuration (environment, a manifest, a profile, hosts.yaml) is invalid." },
  TOO_MANY_STREAMS: { status: 429, description: "The person already has as many open event streams as one server allows; close one." },
  PAYLOAD_TOO_LARGE: {
    status: 413,
    description: "The request body is over the endpoint's cap (64 KB for /api/auth, 1 MB for /api/v1); refused before it was parsed.",
  },
  SIGN_IN_THROTTLED: {
    status: 429,
    description: "The account had 5 failed sign-ins within 15 minutes (any address); Retry-After says when to try again.",
  },
  PASSWORD_TOO_WEAK: {
    status: 400,
    description: "A new password is under 12 characters, a common one, a sequence or pattern, or the email address.",
  },
  CROSS_SITE_REQUEST: {
    status: 403,
    description:
      "A write authenticated by a session cookie came without an allowed Origin or without Content-Type: application/json (CSRF check).",
  },

  // ─── Sandbox lifecycle ─────────────────────────────────────────────────────────────────────────
  ILLEGAL_TRANSITION: { status: 409, description: "A status change that the lifecycle's transition table does not allow." },
  QUOTA_EXCEEDED: { status: 409, description: "The owner already has as many active sandboxes as the quota allows." },
  NOT_EXTENDABLE: { status: 409, description: "Only queued, creating and ready sandboxes can be extended." },
  AT_MAX_TTL: { status: 409, description: "The sandbox already expires at its profile's maximum lifetime." },
  BUSY: { status: 409, description: "The sandbox kept changing state while a command tried to act on it; try again." },
  NOT_CONNECTABLE: { status: 409, description: "The sandbox is not ready, or not on a build VM, so it has no SSH endpoint." },
  HOST_KEY_UNKNOWN: { status: 409, description: "The server has no verified full host key of the VM to hand out for known_hosts." },

  // ─── Operations (recorded on failed operations and sandboxes) ──────────────────────────────────
  CREATE_FAILED: { status: 500, description: "A create could not run (extension missing, params no longer valid, no host)." },
  QUEUE_TIMEOUT: { status: 500, description: "A create waited in the queue longer than SANDBOXER_QUEUE_TIMEOUT." },
  POOL_MEMBER_UNVERIFIED: {
    status: 500,
    description: "A warm-pool member's workspace did not pass its extension's status check after the create; it is not pooled.",
  },
  POOL_MOVE_TARGET_MISSING: {
    status: 500,
    description:
      "A warm-pool member claimed for another git ref could not be moved: the repository has no such branch or tag (a fresh clone would fail too).",
  },
  ATTEMPTS_EXHAUSTED: { status: 500, description: "The workers running an operation stopped responding on every attempt." },
  EXTENSION_MISSING: { status: 500, description: "The sandbox's extension is not loaded on this server." },
  HANDLE_INVALID: { status: 500, description: "The stored destroy handle does not match its extension's schema." },
  LEASE_LOST: { status: 500, description: "This worker no longer holds the operation's lease; another worker took over." },
  WORKER_SHUTDOWN: { status: 500, description: "The worker running the operation is shutting down; another worker retries it." },
  CANCELLED_BY_DESTROY: { status: 500, description: "A running create was stopped because a destroy was requested." },
  ABORTED: { status: 500, description: "Work was cancelled through its AbortSignal (destroy, Ctrl-C, shutdown)." },
  TIMEOUT: { status: 502, description: "A step exceeded its time limit and was stopped." },

  // ─── People and tokens ─────────────────────────────────────────────────────────────────────────
  LAST_ADMIN: { status: 409, description: "The change would leave the team without an admin." },
  DUPLICATE_NAME: { status: 409, description: "Another item of the same kind already has this name." },
  TOKEN_EXPIRED: { status: 401, description: "The API token presented has expired: create a new one (Settings → API tokens)." },
  TOKEN_SCOPE: {
    status: 403,
    description: "The API token's scopes do not cover the request (a read-scoped token on a write, or a grant of access).",
  },

  // ─── Build hosts ───────────────────────────────────────────────────────────────────────────────
  KEY_NOT_OFFERED: { status: 409, description: "The fingerprint to pin is not the key the host currently offers." },
  ID_TAKEN: { status: 409, description: "A sandbox record with that id already exists." },
  WORKSPACE_CLAIMED: { status: 409, description: "A live sandbox accounts for the workspace; it is not an orphan." },
  NOT_ADOPTABLE: { status: 409, description: "No extension can adopt the workspace as a sandbox." },
  TUNNEL_PORTS_EXHAUSTED: { status: 409, description: "Every port of SANDBOXER_TUNNEL_PORTS is allocated." },
  TUNNEL_PORTS_BUSY: { status: 409, description: "Tunnel port allocation kept racing with other instances; try again." },
  TUNNEL_PORT_TAKEN: { status: 409, description: "hosts.yaml gives a tunnel port that another host already holds." },
  HOST_EXISTS: { status: 409, description: "A build host with that id is already registered (from hosts.yaml or the dashboard)." },
  HOST_CHANGED: {
    status: 409,
    description:
      "Another admin changed the host while this edit or removal was checked, or is changing where it is reached now; nothing was written: look again and retry.",
  },
  HOST_FROM_CONFIG: { status: 409, description: "The host comes from hosts.yaml, which wins: change it there." },
  HOST_HAS_SANDBOXES: {
    status: 409,
    description: "Sandboxes still live on the host: drain it and wait, or destroy them, before removing it.",
  },
  KEY_MISMATCH: { status: 409, description: "The fingerprint given is not the key the host offered: it was not pinned." },
  KEY_NOT_PENDING: { status: 409, description: "The host has no offered key waiting for confirmation." },
  KEY_FROM_KNOWN_HOSTS: {
    status: 409,
    description: "hosts.yaml trusts the host through a known_hosts file alone: put the new key in that file; nothing is pinned here.",
  },

  // ─── Images and builds ─────────────────────────────────────────────────────────────────────────
  IMAGE_VERSION_UNKNOWN: { status: 404, description: "No such image version (or channel) was ever built." },
  BUILD_NOT_RUNNING: { status: 409, description: "The image build already ended: nothing to cancel." },
  BUILD_FAILED: { status: 500, description: "packer build failed (its error is in the build's log)." },
  BUILD_HOST_KEY_CHANGED: {
    status: 502,
    description: "The VM to rebuild offered a key other than the pinned one: the build stopped before any provisioner ran.",
  },
  MARKER_MISMATCH: { status: 500, description: "After the build the VM's image marker does not name the version sand-boxer assigned." },

  // ─── SSH (lib/ssh): answer 502, the upstream (a build VM) failed ───────────────────────────────
  SSH_HOST_KEY_UNKNOWN: {
    status: 502,
    description: "The host offered a key that neither the pinned fingerprint nor known_hosts vouches for. Never auto-accepted.",
  },
  SSH_HOST_KEY_CHANGED: {
    status: 502,
    description: "The host offered a key other than the pinned one: the VM was rebuilt, or something intercepts the connection.",
  },
  SSH_HOST_KEY_REVOKED: { status: 502, description: "The key the host offered is marked @revoked in known_hosts." },
  SSH_CONNECT_REFUSED: { status: 502, description: "Nothing listens on host:port (sshd down, tunnel not up, wrong port)." },
  SSH_CONNECT_TIMEOUT: { status: 502, description: "The TCP connect or the SSH handshake did not finish within the ready timeout." },
  SSH_HOST_UNREACHABLE: { status: 502, description: "No route to the host, the network is down, or its name does not resolve." },
  SSH_AUTH_FAILED: { status: 502, description: "The server rejected every offered credential." },
  SSH_EXEC_TIMEOUT: { status: 502, description: "A remote command exceeded its time limit; it was signalled and its channel closed." },
  SSH_DISCONNECTED: { status: 502, description: "An established connection or channel went away, or the handshake was dropped." },
  SSH_KEY_UNREADABLE: {
    status: 502,
    description: "The private key cannot be read or parsed, its passphrase is missing or wrong, or the agent is unusable.",
  },
  SSH_CHANNEL_OPEN_FAILED: {
    status: 502,
    description: "The server refused to open a channel (e.g. MaxSessions) on every connection tried.",
  },
  SSH_CHANNEL_REQUEST_FAILED: {
    status: 502,
    description: "The server opened a session channel but refused the pty, command, shell or subsystem asked on it.",
  },
  SSH_FORWARD_FAILED: {
    status: 502,
    description: "The server refused a forwarded connection: nothing listens there, or AllowTcpForwarding forbids it.",
  },
  SSH_COMMAND_FAILED: { status: 502, description: "A remote command exited non-zero or was killed by a signal." },
  RSYNC_FAILED: { status: 502, description: "rsync exited non-zero; the message explains the exit code and quotes its stderr." },
  SSH_WORKSPACE_ROOT_INVALID: {
    status: 502,
    description: "The workspace root on the host is missing, not a directory, not writable, or resolves to /.",
  },
  SSH_WORKSPACE_EXISTS: {
    status: 502,
    description: "<root>/sbx-<id> already exists and is not provably ours (an empty directory of the user).",
  },
  SSH_WORKSPACE_UNSAFE: {
    status: 502,
    description: "<root>/sbx-<id> is a symlink, not a directory, or not directly under the root; nothing was removed.",
  },
  SSH_WORKSPACE_REMOVE_INCOMPLETE: { status: 502, description: "Removing a workspace left files behind; `details.remaining` lists them." },

  // ─── SSH gateway ───────────────────────────────────────────────────────────────────────────────
  GATEWAY_LISTEN_FAILED: {
    status: 500,
    description: "The SSH gateway cannot listen on SANDBOXER_SSH_GATEWAY (port taken, address not local, no permission).",
  },

  // ─── Built-in extensions ───────────────────────────────────────────────────────────────────────
  SSH_NOT_CONFIGURED: { status: 500, description: "An SSH extension runs on a server without SSH services." },
  NO_HOST: { status: 500, description: "An extension that needs a build host was given none." },
  HANDLE_INCONSISTENT: { status: 500, description: "A handle names a path other than the one its sandbox id computes to; refused." },
  GIT_CLONE_FAILED: { status: 502, description: "git clone of the profile's repository failed on the VM." },
  LOCAL_WORKSPACE: { status: 500, description: "ext.local could not create, check or remove a workspace on this server." },
  COMPOSE_FILE_WRITE_FAILED: { status: 502, description: "A compose or env file could not be written into the workspace." },
  COMPOSE_FILE_MISSING: { status: 502, description: "A compose file named by the profile is not in the synced repository." },
  COMPOSE_FILE_CHECK_FAILED: { status: 502, description: "The compose files could not be checked on the host." },
  COMPOSE_UP_FAILED: { status: 502, description: "`compose up` failed; the message quotes its output." },
  COMPOSE_DOWN_FAILED: { status: 502, description: "`compose down` failed; the workspace was kept so that a retry can run it again." },
  COMPOSE_TIMEOUT: { status: 502, description: "A compose command exceeded its time limit." },
  COMPOSE_UNAVAILABLE: {
    status: 502,
    description:
      "The host has no working docker engine or compose command (v2 `docker compose` or v1 `docker-compose`); nothing was created.",
  },
  COMPOSE_DOCKER_UNREACHABLE: {
    status: 502,
    description: "docker did not answer during a destroy; nothing was removed, so retry once it does.",
  },
  FAKE_FAILURE: { status: 500, description: "ext.fake (tests only) failed as its script told it to." },
} as const satisfies Record<string, ErrorCodeSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}
