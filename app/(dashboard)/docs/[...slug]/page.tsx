import type { Metadata } from "next";
import { notFound } from "next/navigation";

import { optionalPageActor, requirePageActor } from "@/lib/auth/guards";
import { serverUrl } from "@/lib/cli-download";
import { renderDoc } from "@/lib/docs";
import { env } from "@/lib/env";

export async function generateMetadata({ params }: { params: Promise<{ slug: string[] }> }): Promise<Metadata> {
  // Metadata renders before the page's own check: an anonymous caller learns nothing, not even a title.
  if (!(await optionalPageActor())) return { title: "Sign in" };
  const doc = renderDoc((await params).slug);
  return { title: doc?.title ?? "Not found" };
}

export default async function DocPage({ params }: { params: Promise<{ slug: string[] }> }) {
  const { slug } = await params;
  await requirePageActor({ next: `/docs/${slug.join("/")}` });
  const doc = renderDoc(slug, serverUrl(env().publicUrl));
  if (!doc) notFound();
  return (
    <article
      className="doc mx-auto max-w-3xl text-sm leading-relaxed [&_a]:text-primary [&_a]:underline [&_code]:rounded [&_code]:bg-muted [&_code]:px-1 [&_code]:font-mono [&_code]:text-[0.85em] [&_h1]:mb-4 [&_h1]:text-2xl [&_h1]:font-semibold [&_h2]:mb-2 [&_h2]:mt-8 [&_h2]:text-lg [&_h2]:font-semibold [&_h3]:mt-6 [&_h3]:font-semibold [&_li]:my-1 [&_ol]:list-decimal [&_ol]:pl-6 [&_p]:my-3 [&_pre]:my-3 [&_pre]:overflow-x-auto [&_pre]:rounded-md [&_pre]:border [&_pre]:border-border [&_pre]:bg-muted/60 [&_pre]:p-3 [&_pre_code]:bg-transparent [&_pre_code]:p-0 [&_table]:my-4 [&_table]:w-full [&_table]:text-xs [&_td]:border [&_td]:border-border [&_td]:p-2 [&_td]:align-top [&_th]:border [&_th]:border-border [&_th]:bg-muted/50 [&_th]:p-2 [&_th]:text-left [&_ul]:list-disc [&_ul]:pl-6"
      dangerouslySetInnerHTML={{ __html: doc.html }}
    />
  );
}
