import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// `VITE_*` variables (the token server's URL, the agent's name) are read from the environment or
// `.env` files at dev/build time: see src/app-config.ts.
export default defineConfig({
  plugins: [react()],
  server: { host: '127.0.0.1', port: 5173 },
  preview: { host: '127.0.0.1', port: 4173 },
  // livekit-client alone is ≈ 600 kB minified; one chunk is what a starter should ship.
  build: { chunkSizeWarningLimit: 1200 },
});
