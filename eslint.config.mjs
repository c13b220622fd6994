import nextVitals from "eslint-config-next/core-web-vitals";
import nextTs from "eslint-config-next/typescript";

const config = [
  ...nextVitals,
  ...nextTs,
  {
    ignores: [
      ".tmp/**",
      ".next/**",
      // Other build directories (SANDBOXER_DIST_DIR, e.g. a second build to compare with).
      ".next-*/**",
      "generated/**",
      "node_modules/**",
      "data/**",
      "test-results/**",
      "playwright-report/**",
      "next-env.d.ts",
    ],
  },
  {
    rules: {
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    // Playwright fixtures call their continuation `use`; that is not React's hook.
    files: ["e2e/**/*.ts"],
    rules: { "react-hooks/rules-of-hooks": "off" },
  },
  {
    // The layering rule of DESIGN.md: pages, components and actions never reach the database, SSH or
    // a child process directly; they go through lib/manager.
    files: ["app/**/*.ts", "app/**/*.tsx"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: [
            { name: "ssh2", message: "app/ talks to lib/manager, never to SSH directly" },
            { name: "node:child_process", message: "app/ never spawns processes" },
            { name: "child_process", message: "app/ never spawns processes" },
            { name: "@prisma/client", message: "app/ never imports Prisma; use lib/manager" },
          ],
          patterns: [
            { group: ["@/generated/*", "**/generated/*"], message: "app/ never imports Prisma; use lib/manager" },
            { group: ["@/lib/db", "@/lib/db/*", "@/lib/ssh", "@/lib/ssh/*"], message: "app/ goes through lib/manager" },
          ],
        },
      ],
    },
  },
];

export default config;
