import { defineConfig, type Plugin } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';

/**
 * Nothing is loaded from, or sent to, any other origin. 'wasm-unsafe-eval' lets tfjs compile its wasm (no
 * 'unsafe-eval': no script is ever evaluated from a string); blob: workers are tfjs's.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "connect-src 'self'",
  "img-src 'self'",
  "media-src 'self'",
  "style-src 'self'",
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The camera for this origin only; nothing else the app does not use. */
const PERMISSIONS_POLICY = [
  'camera=(self)',
  'microphone=()',
  'geolocation=()',
  'display-capture=()',
  'usb=()',
  'payment=()',
].join(', ');

const SECURITY_HEADERS = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'Permissions-Policy': PERMISSIONS_POLICY,
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
};

/**
 * One source for the security policy: a CSP meta tag in the page (it holds wherever the files are served), the
 * headers `npm start` serves, and a `_headers` file that static hosts such as Netlify and Cloudflare Pages read.
 * frame-ancestors and Permissions-Policy work only as headers.
 */
function securityPolicy(): Plugin {
  return {
    name: 'facesense-security-policy',
    transformIndexHtml: () => [
      {
        tag: 'meta',
        attrs: {
          'http-equiv': 'Content-Security-Policy',
          content: CONTENT_SECURITY_POLICY.replace("; frame-ancestors 'none'", ''),
        },
        injectTo: 'head-prepend',
      },
    ],
    generateBundle() {
      const lines = Object.entries(SECURITY_HEADERS).map(([name, value]) => `  ${name}: ${value}`);
      this.emitFile({ type: 'asset', fileName: '_headers', source: ['/*', ...lines, ''].join('\n') });
    },
  };
}

export default defineConfig({
  build: {
    target: 'es2022',
    // tfjs (core, three backends, converter, layers) is one ~1.2 MB lazy chunk, loaded once and precached.
    chunkSizeWarningLimit: 1300,
  },
  preview: { port: 4173, strictPort: true, headers: SECURITY_HEADERS },
  // The face engine's worker is an ES module, so WebGPU still loads only when asked for. Its bundle is built apart
  // and would keep tfjs's 800 kB of licence comments, which the app's own bundle drops.
  worker: { format: 'es', rolldownOptions: { output: { comments: { legal: false } } } },
  plugins: [
    securityPolicy(),
    VitePWA({
      registerType: 'prompt',
      // The app registers the worker itself (ServiceWorkerController) to show the update and offline notices.
      injectRegister: false,
      // The glob below already takes the icons; listing them twice would only duplicate precache entries.
      includeManifestIcons: false,
      manifest: {
        name: 'FaceSense',
        short_name: 'FaceSense',
        description: 'Labels every face in the live camera picture, entirely on your device.',
        start_url: '/',
        scope: '/',
        display: 'standalone',
        orientation: 'any',
        background_color: '#111318',
        theme_color: '#111318',
        icons: [
          { src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png', purpose: 'any' },
          { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'any' },
          { src: '/icons/maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
        ],
      },
      workbox: {
        // The shell, icons, the detector's two models and the gender model (json + weights) and the tfjs wasm
        // binaries: everything works offline.
        globPatterns: ['**/*.{html,js,css,svg,png,json,bin,wasm}'],
        maximumFileSizeToCacheInBytes: 8 * 1024 * 1024,
        cleanupOutdatedCaches: true,
      },
    }),
  ],
});
