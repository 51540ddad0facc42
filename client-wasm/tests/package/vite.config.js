export default {
  build: { target: "es2022" },
  optimizeDeps: { exclude: ["@session-gateway/client"] },
};
