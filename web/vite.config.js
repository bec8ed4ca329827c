// `npm run dev` serves the UI with hot reload and forwards the API to a running
// `concierge run` (CONCIERGE_URL, default http://127.0.0.1:8080). `npm run build`
// writes web/dist, which the binary serves.
const backend = process.env.CONCIERGE_URL || 'http://127.0.0.1:8080';

export default {
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
  server: { proxy: { '/api': backend, '/healthz': backend } },
};
