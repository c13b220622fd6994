// OpenSSH client options for tests that connect to sand-boxer's SSH gateway: no user config, exactly one
// key, and strict host key checking against a known_hosts file the test wrote (never auto-accepted).
export function strictSshOptions(keyFile: string, knownHostsFile: string): string[] {
  return [
    "-F",
    "none",
    "-i",
    keyFile,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    `UserKnownHostsFile=${knownHostsFile}`,
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=20",
  ];
}
