/**
 * The desktop security rules, in one place: window preferences, the renderer's origin, the
 * Content-Security-Policy, which frames may call the core, and which external links may open.
 * Pure functions, so the rules are unit-tested without Electron.
 */
import type { WebPreferences } from 'electron';

/** The renderer is served from this privileged custom scheme, never from file://. */
export const APP_SCHEME = 'meshdeck';
export const APP_ORIGIN = `${APP_SCHEME}://app`;

export { CONTENT_SECURITY_POLICY } from '../../core/server/security';

export function secureWebPreferences(preloadPath: string): WebPreferences {
  return {
    preload: preloadPath,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    experimentalFeatures: false,
    webviewTag: false,
    navigateOnDragDrop: false,
    spellcheck: false,
  };
}

/** The origin the renderer is loaded from: the dev server while developing, else the app scheme. */
export function rendererOrigin(devServerUrl: string | undefined): string {
  return devServerUrl ? new URL(devServerUrl).origin : APP_ORIGIN;
}

/**
 * Node's URL (used in the main process) does not know that Chromium treats our scheme as a
 * standard one: it gives `meshdeck://app/...` the opaque origin "null". Spell that origin out
 * as Chromium does; any other opaque origin stays "null" and never matches.
 */
function originOf(url: URL): string {
  if (url.origin === 'null' && url.protocol === `${APP_SCHEME}:` && url.host) return `${url.protocol}//${url.host}`;
  return url.origin;
}

export function isSameOrigin(url: string, origin: string): boolean {
  try {
    const actual = originOf(new URL(url));
    return actual !== 'null' && actual === origin;
  } catch {
    return false;
  }
}

/** What the IPC handlers know about the frame that sent a message. */
export interface SenderFrame {
  url: string;
  parent: unknown;
}

/**
 * Only the top frame of our own renderer may call the core: not an iframe, not a page that
 * navigated elsewhere, not a frame that is gone.
 */
export function isTrustedSender(frame: SenderFrame | null | undefined, origin: string): boolean {
  if (!frame) return false;
  if (frame.parent !== null) return false;
  return isSameOrigin(frame.url, origin);
}

/** External links open in the system browser only if https and on this list. */
export const EXTERNAL_URL_ALLOW_LIST: readonly string[] = [
  'https://www.rabbitmq.com',
  'https://github.com',
];

export function isAllowedExternalUrl(url: string, allowList: readonly string[] = EXTERNAL_URL_ALLOW_LIST): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.protocol !== 'https:' || parsed.username || parsed.password) return false;
  return allowList.some((allowed) => parsed.origin === new URL(allowed).origin);
}
