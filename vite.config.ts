import { defineConfig } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';

export default defineConfig({
  build: {
    target: 'es2022',
    // tfjs (core, three backends, converter, layers) is one ~1.2 MB lazy chunk, loaded once and precached.
    chunkSizeWarningLimit: 1300,
  },
  preview: { port: 4173, strictPort: true },
  plugins: [
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
        // The shell, icons, both models (json + weights) and the tfjs wasm binaries: everything works offline.
        globPatterns: ['**/*.{html,js,css,svg,png,json,bin,wasm}'],
        maximumFileSizeToCacheInBytes: 8 * 1024 * 1024,
        cleanupOutdatedCaches: true,
      },
    }),
  ],
});
