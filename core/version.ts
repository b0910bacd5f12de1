/** The product version, injected at build time from package.json (see the vite configs). */
declare const __MESHDECK_VERSION__: string | undefined;

export const MESHDECK_VERSION: string = typeof __MESHDECK_VERSION__ === 'string' ? __MESHDECK_VERSION__ : '0.0.0-dev';
