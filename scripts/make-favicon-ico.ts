// Writes public/favicon.ico from public/favicon.svg: the icon a browser or another agent fetches when a
// page names none at that moment (Chromium falls back to /favicon.ico when a page's icon links are
// replaced after it loaded, as Next.js does on a sandbox page's 404). Debian's Chromium draws the SVG
// (its light scheme) at 16 and 32 px; the ICO holds the two PNGs. Run it when the SVG changes:
//   node --import tsx scripts/make-favicon-ico.ts
import { readFileSync, writeFileSync } from "node:fs";

import { chromium } from "@playwright/test";

import { CHROMIUM_ARGS, CHROMIUM_PATH } from "../tests/support/chromium";

const SIZES = [16, 32];
const svg = readFileSync(new URL("../public/favicon.svg", import.meta.url), "utf8");
const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
const pngs: Buffer[] = [];
try {
  for (const size of SIZES) {
    const page = await browser.newPage({ viewport: { width: size, height: size }, colorScheme: "light" });
    const src = `data:image/svg+xml;base64,${Buffer.from(svg).toString("base64")}`;
    await page.setContent(`<style>*{margin:0}</style><img src="${src}" width="${size}" height="${size}">`);
    await page.locator("img").evaluate((img) => (img as HTMLImageElement).decode());
    pngs.push(await page.screenshot({ omitBackground: true, type: "png" }));
    await page.close();
  }
} finally {
  await browser.close();
}

// ICONDIR (6 bytes), one ICONDIRENTRY (16 bytes) per image, then the images; PNG entries are allowed
// since Windows Vista and read by every browser.
const header = Buffer.alloc(6 + 16 * pngs.length);
header.writeUInt16LE(0, 0);
header.writeUInt16LE(1, 2);
header.writeUInt16LE(pngs.length, 4);
let offset = header.length;
pngs.forEach((png, i) => {
  const at = 6 + 16 * i;
  header.writeUInt8(SIZES[i]! % 256, at);
  header.writeUInt8(SIZES[i]! % 256, at + 1);
  header.writeUInt16LE(1, at + 4); // colour planes
  header.writeUInt16LE(32, at + 6); // bits per pixel
  header.writeUInt32LE(png.length, at + 8);
  header.writeUInt32LE(offset, at + 12);
  offset += png.length;
});
writeFileSync(new URL("../public/favicon.ico", import.meta.url), Buffer.concat([header, ...pngs]));
console.log(`public/favicon.ico: ${SIZES.join(" and ")} px, ${offset} bytes`);
