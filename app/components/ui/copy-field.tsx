"use client";
// A value shown in monospace with a button that copies it (commands, fingerprints, paths).
import { Check, Copy } from "lucide-react";
import { useState } from "react";

import { Button } from "./button";

export function CopyField({ value, label, testId }: { value: string; label: string; testId?: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <div className="flex items-center gap-2">
      <code
        tabIndex={0}
        className="flex-1 overflow-x-auto whitespace-nowrap rounded-md border border-border bg-muted/60 px-2 py-1.5 font-mono text-xs"
        data-testid={testId}
      >
        {value}
      </code>
      <Button
        variant="outline"
        size="icon"
        aria-label={`Copy ${label}`}
        onClick={() => {
          void navigator.clipboard?.writeText(value).then(() => {
            setCopied(true);
            setTimeout(() => setCopied(false), 1500);
          });
        }}
      >
        {copied ? <Check aria-hidden /> : <Copy aria-hidden />}
      </Button>
    </div>
  );
}
