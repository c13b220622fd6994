// Every page of the dashboard a signed-in admin can open, with its h1: the accessibility scan
// (overview.spec.ts) and the console check (console.spec.ts) visit the same list.
export function dashboardPages(sandboxId: string): [url: string, heading: string][] {
  return [
    ["/", "Overview"],
    ["/profiles", "Profiles"],
    [`/sandboxes/${sandboxId}`, sandboxId],
    ["/hosts", "Hosts"],
    ["/images", "Images"],
    ["/settings/tokens", "API tokens"],
    ["/settings/ssh-keys", "SSH keys"],
    ["/cli", "Command line"],
    ["/admin/users", "Users"],
    ["/admin/audit", "Audit log"],
    ["/docs/cli", "The sandboxer command line"],
  ];
}
