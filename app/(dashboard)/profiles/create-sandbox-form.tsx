"use client";

// First: zod schemas made in the browser must not probe for eval (the CSP reports it).
import "@/lib/zod-no-eval";

import { Plus } from "lucide-react";
import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";

import { buildInputSchema } from "@/lib/extensions/profile-inputs";
import type { ProfileView } from "@/lib/manager/views";

import { Button } from "../../components/ui/button";
import {
  Dialog,
  DialogContent,
  DialogDescription,
  DialogFooter,
  DialogHeader,
  DialogTitle,
  DialogTrigger,
} from "../../components/ui/dialog";
import { Input } from "../../components/ui/input";
import { Label } from "../../components/ui/label";
import { createSandboxAction } from "../actions";

/** The Create button of a profile card: a form for the profile's inputs, validated with the server's schema. */
export function CreateSandboxButton({ profile }: { profile: ProfileView }) {
  const router = useRouter();
  const [open, setOpen] = useState(false);
  const [values, setValues] = useState<Record<string, string>>(() =>
    Object.fromEntries(profile.inputs.map((i) => [i.name, i.default ?? ""])),
  );
  const [fieldErrors, setFieldErrors] = useState<Record<string, string[]>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [pending, startTransition] = useTransition();
  const schema = buildInputSchema(profile.inputs);

  function submit(e: React.FormEvent) {
    e.preventDefault();
    setFormError(null);
    const parsed = schema.safeParse(values);
    if (!parsed.success) {
      const errs: Record<string, string[]> = Object.create(null) as Record<string, string[]>; // keys come from input ("constructor", "__proto__")
      for (const issue of parsed.error.issues) (errs[String(issue.path[0] ?? "form")] ??= []).push(issue.message);
      setFieldErrors(errs);
      return;
    }
    setFieldErrors({});
    startTransition(async () => {
      const input = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== ""));
      const result = await createSandboxAction({ profile: profile.id, input });
      if (!result.ok) {
        setFieldErrors(result.fieldErrors ?? {});
        setFormError(result.message);
        return;
      }
      setOpen(false);
      router.push(`/sandboxes/${result.data.id}`);
    });
  }

  return (
    <Dialog open={open} onOpenChange={setOpen}>
      <DialogTrigger asChild>
        <Button size="sm" data-testid={`create-${profile.id}`}>
          <Plus aria-hidden /> Create
        </Button>
      </DialogTrigger>
      <DialogContent data-testid="create-dialog">
        <form onSubmit={submit} noValidate className="grid gap-4">
          <DialogHeader>
            <DialogTitle>New sandbox: {profile.title}</DialogTitle>
            <DialogDescription>
              {profile.target ? `On ${profile.target}. ` : ""}Expires after {profile.ttl} (extendable to {profile.maxTtl}).
            </DialogDescription>
          </DialogHeader>
          {profile.inputs.length === 0 ? <p className="text-sm text-muted-foreground">This profile takes no inputs.</p> : null}
          {profile.inputs.map((input) => {
            const errs = fieldErrors[input.name];
            const id = `input-${input.name}`;
            return (
              <div key={input.name} className="grid gap-1.5">
                <Label htmlFor={id}>
                  {input.title}
                  {input.required ? <span className="text-destructive"> *</span> : null}
                </Label>
                <Input
                  id={id}
                  name={input.name}
                  value={values[input.name] ?? ""}
                  placeholder={input.placeholder ?? input.default}
                  aria-invalid={errs ? true : undefined}
                  aria-describedby={errs ? `${id}-error` : input.description ? `${id}-help` : undefined}
                  onChange={(e) => setValues({ ...values, [input.name]: e.target.value })}
                />
                {input.description && !errs ? (
                  <p id={`${id}-help`} className="text-xs text-muted-foreground">
                    {input.description}
                  </p>
                ) : null}
                {errs ? (
                  <p id={`${id}-error`} role="alert" className="text-xs text-destructive" data-testid={`field-error-${input.name}`}>
                    {errs.join(" ")}
                  </p>
                ) : null}
              </div>
            );
          })}
          {formError ? (
            <p role="alert" className="text-sm text-destructive" data-testid="form-error">
              {formError}
            </p>
          ) : null}
          <DialogFooter>
            <Button type="button" variant="outline" onClick={() => setOpen(false)}>
              Cancel
            </Button>
            <Button type="submit" disabled={pending} data-testid="submit-create">
              {pending ? "Creating…" : "Create sandbox"}
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}
