// Class-name joining for the UI kit: clsx for conditions, tailwind-merge so a caller's class wins.
import { clsx, type ClassValue } from "clsx";
import { twMerge } from "tailwind-merge";

export function cn(...inputs: ClassValue[]): string {
  return twMerge(clsx(inputs));
}
