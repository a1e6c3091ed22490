import { defineConfig } from 'vitest/config';

// The api serves the built console at /console/. `npm run dev -w web-client` serves it from
// Vite at http://localhost:5173/console/ and proxies the api (REST and the WebSocket) on :8000.
const API = process.env.AGENTVM_API ?? 'http://localhost:8000';

export default defineConfig({
  base: '/console/',
  // Preact's automatic JSX runtime, without a framework plugin.
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, target: 'es2022' },
  server: {
    port: 5173,
    proxy: {
      '^/(agents|tasks|game|games|events|system|analytics|admin|auth|health|ready|runtime|metrics|agent|openapi\\.json|docs)(/|\\?|$)': API,
      '/ws': { target: API.replace(/^http/, 'ws'), ws: true },
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
  },
});
