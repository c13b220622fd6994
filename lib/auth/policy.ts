// Who may do what: the one policy function. Server actions, route handlers, pages (to show or hide a
// button) and the manager's commands all ask `can(actor, action, target)`, so the dashboard never
// offers what the server would refuse, and "is admin" means the same thing everywhere.
//
// The system actor (expiry, the reaper, the reconciler) acts for the platform and may do anything;
// it never arrives through a request (sessions and tokens always belong to a person).
import type { Actor } from "./actor";

/** Any signed-in person. */
const MEMBER_ACTIONS = ["sandbox.create", "sandbox.read", "profile.read", "host.read", "token.manage_own"] as const;
/** The sandbox's owner, or an admin. */
const OWNER_ACTIONS = ["sandbox.destroy", "sandbox.extend", "sandbox.enter"] as const;
/** Admins only. */
const ADMIN_ACTIONS = ["sandbox.destroy_any", "host.manage", "people.manage", "audit.read", "metrics.read"] as const;

export type MemberAction = (typeof MEMBER_ACTIONS)[number];
export type OwnerAction = (typeof OWNER_ACTIONS)[number];
export type AdminAction = (typeof ADMIN_ACTIONS)[number];
export type Action = MemberAction | OwnerAction | AdminAction;

/** What an owner action is checked against. */
export interface OwnedTarget {
  ownerId: string;
}

export function can(actor: Actor, action: MemberAction | AdminAction): boolean;
export function can(actor: Actor, action: OwnerAction, target: OwnedTarget): boolean;
export function can(actor: Actor, action: Action, target?: OwnedTarget): boolean {
  if (actor.kind === "system") return true;
  if (oneOf(MEMBER_ACTIONS, action)) return true;
  const admin = actor.role === "admin";
  if (oneOf(OWNER_ACTIONS, action)) return admin || (target !== undefined && target.ownerId === actor.userId);
  if (oneOf(ADMIN_ACTIONS, action)) return admin;
  return false;
}

function oneOf<A extends string>(set: readonly A[], action: string): action is A {
  return (set as readonly string[]).includes(action);
}

/** What the viewer may do to one sandbox: the buttons a page shows. */
export interface SandboxPermissions {
  destroy: boolean;
  extend: boolean;
  enter: boolean;
}

export function sandboxPermissions(actor: Actor, sandbox: OwnedTarget): SandboxPermissions {
  return {
    destroy: can(actor, "sandbox.destroy", sandbox),
    extend: can(actor, "sandbox.extend", sandbox),
    enter: can(actor, "sandbox.enter", sandbox),
  };
}
