import { describe, expect, it } from "vitest";

import { passwordProblem } from "./password-policy";

describe("passwordProblem", () => {
  it("wants at least 12 characters and names the field", () => {
    expect(passwordProblem("short-pw-11")).toBe("password: must be at least 12 characters");
    expect(passwordProblem("x".repeat(257))).toBe("password: must be at most 256 characters");
  });

  it("refuses the most common long passwords, in any case", () => {
    for (const pw of [
      "password1234",
      "PASSWORD1234",
      "123456789012",
      "qwertyuiop123",
      "1qaz2wsx3edc",
      "iloveyou1234",
      "correcthorsebatterystaple",
    ]) {
      expect(passwordProblem(pw), pw).toMatch(/^password: /);
    }
    expect(passwordProblem("Password1234")).toContain("most common");
  });

  it("refuses common words padded with digits and symbols, runs and repeats", () => {
    for (const pw of [
      "Password2024!",
      "!!welcome!!123",
      "Sandboxer2026!",
      "098765432109",
      "abcdefghijklm",
      "zyxwvutsrqpo",
      "xyzxyzxyzxyz",
      "121212121212",
      "aaaaaaaaaaaa",
      "a1a1a1a1a1a1",
    ]) {
      expect(passwordProblem(pw), pw).not.toBeNull();
    }
  });

  it("refuses the person's own email address", () => {
    expect(passwordProblem("alice.smith@example.com", { email: "Alice.Smith@example.com" })).toBe(
      "password: must not be your email address",
    );
    expect(passwordProblem("alicesmith12", { email: "alicesmith12@example.com" })).toBe("password: must not be your email address");
  });

  it("accepts passphrases and random strings", () => {
    for (const pw of [
      "correct-horse-battery",
      "member-password-1",
      "tangerine river 42 lamp",
      "9vQ#x2Lr!mWz",
      "839201746582",
      "Zürich-Bergbahn-7",
    ]) {
      expect(passwordProblem(pw, { email: "someone@example.com" }), pw).toBeNull();
    }
  });
});
