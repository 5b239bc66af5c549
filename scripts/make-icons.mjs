// Renders the app icons from one SVG drawing: `node scripts/make-icons.mjs`. The PNGs are committed; rerun this
// after changing the drawing.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'public', 'icons');

/** A face in a detection box. `inset` shrinks the drawing into the maskable icon's safe zone (the inner 80%). */
function drawing({ rounded, inset }) {
  const k = 1 - 2 * inset;
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 512 512">
  <rect width="512" height="512" rx="${rounded ? 96 : 0}" fill="#111318"/>
  <g transform="translate(${512 * inset} ${512 * inset}) scale(${k})" fill="none" stroke-linecap="round" stroke-linejoin="round">
    <path d="M96 176V112q0-16 16-16h64M336 96h64q16 0 16 16v64M416 336v64q0 16-16 16h-64M176 416h-64q-16 0-16-16v-64"
      stroke="#4fb3ff" stroke-width="28"/>
    <ellipse cx="256" cy="262" rx="92" ry="112" stroke="#ff6fb5" stroke-width="24"/>
    <circle cx="222" cy="240" r="13" fill="#eceef2"/>
    <circle cx="290" cy="240" r="13" fill="#eceef2"/>
    <path d="M218 312q38 28 76 0" stroke="#eceef2" stroke-width="18"/>
  </g>
</svg>
`;
}

mkdirSync(out, { recursive: true });
const icon = drawing({ rounded: true, inset: 0 });
writeFileSync(join(out, 'icon.svg'), icon);
const maskable = Buffer.from(drawing({ rounded: false, inset: 0.1 }));
const render = (svg, size, name) =>
  sharp(Buffer.from(svg)).resize(size, size).png({ compressionLevel: 9, palette: true }).toFile(join(out, name));
await Promise.all([
  render(icon, 192, 'icon-192.png'),
  render(icon, 512, 'icon-512.png'),
  render(maskable, 512, 'maskable-512.png'),
  // iOS draws its own rounded corners and shows transparency as black, so it gets the full-bleed drawing.
  render(maskable, 180, 'apple-touch-icon-180.png'),
]);
console.log(`make-icons: wrote icons into ${out}`);
