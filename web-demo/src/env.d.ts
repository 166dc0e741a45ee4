// Vite asset imports used by the page (the worklet is bundled separately and referenced by URL).
declare module '*?worker&url' {
  const url: string;
  export default url;
}
