/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run dev` proxies the API and sockets to a gateway on :8000 (`make up`).
const gateway = "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", sourcemap: false, chunkSizeWarningLimit: 800 },
  server: {
    proxy: {
      "/api": gateway,
      "/sse": gateway,
      "/ws": { target: gateway, ws: true },
    },
  },
  test: { environment: "node", include: ["test/**/*.test.ts"] },
});
