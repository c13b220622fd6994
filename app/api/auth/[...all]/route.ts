// better-auth's endpoints (sign-up, sign-in, sign-out, session, SSO callbacks). Bodies are capped at
// 64 KB before better-auth parses them (413 in the API's error shape), and a NUL in a field is a 400
// naming it (PostgreSQL refuses NUL: a sign-in with one in the email was a 500 there) — but for the
// display name, which sign-up and update-user clean of control characters (lib/auth/auth.ts).
import { toNextJsHandler } from "better-auth/next-js";

import { auth } from "@/lib/auth/auth";
import { errorResponse } from "@/lib/auth/guards";
import { BODY_LIMITS, withCappedBody } from "@/lib/http/body-limit";
import { refuseNulInBody } from "@/lib/http/no-nul";

export const dynamic = "force-dynamic";

export async function GET(req: Request): Promise<Response> {
  return toNextJsHandler(auth()).GET(req);
}

export async function POST(req: Request): Promise<Response> {
  let capped: Request;
  try {
    capped = await withCappedBody(req, BODY_LIMITS.auth);
    await refuseNulInBody(capped, ["name"]);
  } catch (e) {
    return errorResponse(e, "auth");
  }
  return toNextJsHandler(auth()).POST(capped);
}
