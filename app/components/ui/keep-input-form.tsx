"use client";
// A form whose submit hands its FormData to `onData` and leaves the fields as they are. Not `action=`:
// React resets a form after its action, which wipes what was typed when the server refuses it (and
// typing right after a submit can be lost).
import type * as React from "react";

export function KeepInputForm({
  onData,
  ...props
}: Omit<React.FormHTMLAttributes<HTMLFormElement>, "action" | "onSubmit"> & { onData: (fd: FormData) => void }) {
  return (
    <form
      {...props}
      onSubmit={(e) => {
        e.preventDefault();
        onData(new FormData(e.currentTarget));
      }}
    />
  );
}
