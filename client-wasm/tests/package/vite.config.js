export default {
  build: {
    target: "es2022",
    // Two pages: the plain SDK (index.html) and the React hook (react.html).
    rollupOptions: { input: { main: "index.html", react: "react.html" } },
  },
  optimizeDeps: { exclude: ["@session-gateway/client"] },
};
