import { AlertTriangle, CheckCircle2, CircleDashed, Clock, Flame, Loader2, Trash2, XCircle } from "lucide-react";

import type { SandboxStatus } from "@/lib/manager/states";

import { Badge, type BadgeProps } from "./ui/badge";

const LOOK: Record<SandboxStatus, { tone: BadgeProps["tone"]; label: string; icon: React.ReactNode }> = {
  queued: { tone: "neutral", label: "queued", icon: <Clock aria-hidden className="size-3" /> },
  creating: { tone: "info", label: "creating", icon: <Loader2 aria-hidden className="size-3 animate-spin" /> },
  ready: { tone: "success", label: "ready", icon: <CheckCircle2 aria-hidden className="size-3" /> },
  pooled: { tone: "info", label: "pooled (warm)", icon: <Flame aria-hidden className="size-3" /> },
  failed: { tone: "danger", label: "failed", icon: <XCircle aria-hidden className="size-3" /> },
  destroying: { tone: "warning", label: "destroying", icon: <Loader2 aria-hidden className="size-3 animate-spin" /> },
  destroyed: { tone: "muted", label: "destroyed", icon: <Trash2 aria-hidden className="size-3" /> },
  destroy_failed: { tone: "danger", label: "destroy failed", icon: <AlertTriangle aria-hidden className="size-3" /> },
  missing: { tone: "warning", label: "missing", icon: <CircleDashed aria-hidden className="size-3" /> },
};

export function StatusBadge({ status }: { status: SandboxStatus }) {
  const look = LOOK[status];
  return (
    <Badge tone={look.tone} data-status={status} data-testid="status-badge">
      {look.icon}
      {look.label}
    </Badge>
  );
}
