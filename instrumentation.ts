// Runs once per server process before the first request (Next.js instrumentation).
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  // Dynamic import: a static one would drag Node APIs into the Edge build.
  const { onServerStart } = await import("./lib/server-start");
  await onServerStart();
}
