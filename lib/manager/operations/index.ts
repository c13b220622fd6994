// One handler per operation kind. A new kind is a new file here and a new key in OPERATION_KINDS
// (states.ts); the compiler then insists on its handler.
import "server-only";

import type { OperationKind } from "../states";
import { runCleanup } from "./cleanup";
import { runCreate } from "./create";
import { runDestroy } from "./destroy";
import { runImageBuild } from "./image-build";
import { runReconcileOperation } from "./reconcile";
import { runRefill } from "./refill";
import type { OperationHandler } from "./runtime";

export const OPERATION_HANDLERS: Record<OperationKind, OperationHandler> = {
  create: runCreate,
  destroy: runDestroy,
  reconcile: runReconcileOperation,
  cleanup: runCleanup,
  refill: runRefill,
  image_build: runImageBuild,
};
