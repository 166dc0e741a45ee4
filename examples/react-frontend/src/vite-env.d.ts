/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** Base URL of the token server (`npm start` runs it at http://127.0.0.1:8090). */
  readonly VITE_TOKEN_SERVER_URL?: string;
  /** Agent to dispatch explicitly (a worker started with AGENT_NAME). Empty: automatic dispatch. */
  readonly VITE_AGENT_NAME?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}
