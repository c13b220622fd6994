// What a password must be: at least 12 characters (at most 256), and not one an attacker tries
// first — a password from the common lists, a common word padded with digits and symbols, a keyboard
// or number run, a short pattern repeated, or the person's own email address. Checked on sign-up,
// password changes and resets (lib/auth/auth.ts) and by `npm run admin:create`. Pure: no I/O.

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 256;

/**
 * Passwords of 12+ characters near the top of public breach lists (shorter ones are refused by length
 * anyway), lower-cased. Small on purpose: the rules below catch their many variants.
 */
const COMMON_PASSWORDS = new Set([
  "123456789012",
  "1234567890123",
  "12345678901234",
  "123456123456",
  "123123123123",
  "123456654321",
  "111111111111",
  "000000000000",
  "987654321098",
  "1q2w3e4r5t6y",
  "1q2w3e4r5t6y7u",
  "q1w2e3r4t5y6",
  "1qaz2wsx3edc",
  "1qaz2wsx3edc4rfv",
  "zaq12wsxcde3",
  "zaq1zaq1zaq1",
  "qazwsxedcrfv",
  "qazwsxedcrfvtgb",
  "qwertyuiop12",
  "qwertyuiop123",
  "qwertyuiopasdfgh",
  "qwerty123456",
  "qwerty1234567",
  "qwertyqwerty",
  "1234qwerasdf",
  "1234qwerasdfzxcv",
  "asdfghjkl123",
  "asdfasdfasdf",
  "asdfghjklzxcvbnm",
  "zxcvbnm12345",
  "zxcvbnmasdfghjkl",
  "abcdefghijkl",
  "abc123abc123",
  "abcd1234abcd",
  "passwordpassword",
  "password1234",
  "password12345",
  "password123456",
  "password123!",
  "password!234",
  "passw0rd1234",
  "p@ssw0rd1234",
  "p@ssword1234",
  "passw0rd!234",
  "iloveyou1234",
  "iloveyouiloveyou",
  "letmein12345",
  "letmeinletmein",
  "welcome12345",
  "welcome123456",
  "administrator",
  "administrator1",
  "admin1234567",
  "adminadmin123",
  "changeme1234",
  "changeme123!",
  "trustno1trustno1",
  "correcthorsebatterystaple",
  "correcthorse",
  "monkey123456",
  "dragon123456",
  "football1234",
  "baseball1234",
  "sunshine1234",
  "princess1234",
  "superman1234",
  "starwars1234",
  "whatever1234",
  "michael12345",
  "shadow123456",
  "master123456",
  "computer1234",
  "internet1234",
  "myspace12345",
  "liverpool123",
  "chelsea12345",
  "1234567890qwerty",
  "qwerty1234567890",
]);

/** Words that, padded with digits and symbols only ("Password2024!", "!!welcome!!123"), make a weak password. */
const COMMON_WORDS = new Set([
  "password",
  "passwort",
  "pass",
  "qwerty",
  "qwertz",
  "azerty",
  "letmein",
  "welcome",
  "admin",
  "administrator",
  "root",
  "login",
  "iloveyou",
  "changeme",
  "secret",
  "master",
  "sandbox",
  "sandboxer",
  "dragon",
  "monkey",
  "football",
  "baseball",
  "sunshine",
  "princess",
  "superman",
  "abc",
  "abcd",
  "test",
  "user",
  "guest",
]);

const KEYBOARD_ROWS = ["1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", "abcdefghijklmnopqrstuvwxyz"];

/** True for a run along a keyboard row or the alphabet/digits, forwards or backwards ("abcdefghijkl", "0987654321"). */
function isRun(s: string): boolean {
  for (const row of KEYBOARD_ROWS) {
    for (const line of [row, [...row].reverse().join("")]) {
      const cyclic = line.repeat(Math.ceil(s.length / line.length) + 1);
      if (cyclic.includes(s)) return true;
    }
  }
  return false;
}

/** Why `password` is refused, as a sentence about the field (it names it), or null when it is fine. */
export function passwordProblem(password: string, context: { email?: string | null } = {}): string | null {
  if (password.length < PASSWORD_MIN_LENGTH) return `password: must be at least ${PASSWORD_MIN_LENGTH} characters`;
  if (password.length > PASSWORD_MAX_LENGTH) return `password: must be at most ${PASSWORD_MAX_LENGTH} characters`;
  const lower = password.toLowerCase();
  if (COMMON_PASSWORDS.has(lower)) return "password: is one of the most common passwords; choose another";
  const letters = lower.replace(/[^\p{L}]/gu, "");
  if (letters === "" && /^[\d\p{P}\p{S}\s]+$/u.test(password) && (isRun(lower.replace(/\D/g, "")) || /^(.{1,6})\1+$/.test(lower))) {
    return "password: is a number sequence or a repeated pattern; choose another";
  }
  if (COMMON_WORDS.has(letters) || /^(.{1,4})\1+$/.test(letters)) {
    return "password: is a common word with digits or symbols around it; choose another";
  }
  if (isRun(lower) || /^(.{1,6})\1+$/.test(lower)) return "password: is a keyboard sequence or a repeated pattern; choose another";
  const email = context.email?.trim().toLowerCase();
  if (
    email &&
    (lower.includes(email) ||
      (email.split("@")[0]!.length >= 4 && lower.replace(/[^\p{L}\p{N}]/gu, "") === email.split("@")[0]!.replace(/[^\p{L}\p{N}]/gu, "")))
  ) {
    return "password: must not be your email address";
  }
  return null;
}
