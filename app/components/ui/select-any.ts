// The value of a select's "any …" item (a filter that is off): Radix reserves "" for "nothing chosen".
// Its own module, not select.tsx: a server component importing from a "use client" file gets a
// client reference, not the string.
export const ANY_VALUE = "any";
