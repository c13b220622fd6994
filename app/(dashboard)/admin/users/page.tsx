import type { Metadata } from "next";

import { actorUserId } from "@/lib/auth/actor";
import { requirePageActor } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";

import { PageHeader } from "../../../components/page-header";
import { RelativeTime } from "../../../components/relative-time";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../../../components/ui/table";
import { RoleSelect } from "./role-select";

export const metadata: Metadata = { title: "Users" };

export default async function UsersPage() {
  const actor = await requirePageActor({ requires: "people.manage", next: "/admin/users" });
  const people = await manager().listPeople();
  return (
    <>
      <PageHeader
        title="Users"
        description="Members create sandboxes and destroy their own. Admins destroy any sandbox, manage hosts and users, and read the audit log."
      />
      <Table data-testid="users-table">
        <TableHeader>
          <TableRow>
            <TableHead>Email</TableHead>
            <TableHead>Name</TableHead>
            <TableHead>Joined</TableHead>
            <TableHead>Role</TableHead>
          </TableRow>
        </TableHeader>
        <TableBody>
          {people.map((p) => (
            <TableRow key={p.id} data-testid={`user-${p.email}`}>
              <TableCell className="font-medium">{p.email}</TableCell>
              <TableCell>{p.name}</TableCell>
              <TableCell>
                <RelativeTime iso={p.createdAt} />
              </TableCell>
              <TableCell>
                <RoleSelect userId={p.id} role={p.role === "admin" ? "admin" : "member"} self={p.id === actorUserId(actor)} />
              </TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </>
  );
}
