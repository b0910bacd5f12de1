/**
 * Desktop entry point: hosts the mesh control core in the main process and shows the renderer.
 * Thin on purpose: the core is plain Node (core/), the UI is the same bundle the headless host
 * serves; this file only wires them with Electron's security features switched on.
 */
import { app, BrowserWindow, safeStorage, session } from 'electron';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMeshCore, type MeshCore } from '../../core/app';
import { createLogger } from '../../core/lib/log';
import { registerApiBridge } from './ipc';
import { handleAppProtocol, registerAppScheme } from './app-protocol';
import { safeStorageSecretStore } from './secrets';
import { APP_ORIGIN, CONTENT_SECURITY_POLICY, rendererOrigin } from './security';
import { createMainWindow, hardenWebContents } from './window';

const logger = createLogger({ component: 'desktop' });
const devServerUrl = process.env.ELECTRON_RENDERER_URL;
const origin = rendererOrigin(devServerUrl);
const rendererDir = fileURLToPath(new URL('../renderer/', import.meta.url));
const preloadPath = fileURLToPath(new URL('../preload/index.cjs', import.meta.url));

registerAppScheme();
app.enableSandbox();

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  let core: MeshCore | null = null;
  let closing = false;

  app.on('web-contents-created', (_event, contents) => hardenWebContents(contents, origin));
  app.on('second-instance', () => {
    const [window] = BrowserWindow.getAllWindows();
    if (window) {
      if (window.isMinimized()) window.restore();
      window.focus();
    }
  });

  app.whenReady().then(() => {
    if (devServerUrl) {
      session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
        callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] } });
      });
    }
    handleAppProtocol(rendererDir);
    core = createMeshCore({
      databasePath: join(app.getPath('userData'), 'meshdeck.db'),
      secrets: safeStorageSecretStore(safeStorage, process.platform),
      logger,
      host: 'electron',
      ...(process.env.MESHDECK_BROKER ? { commandLineBroker: process.env.MESHDECK_BROKER } : {}),
    });
    registerApiBridge(core.router, origin, logger);
    createMainWindow({ preloadPath, rendererUrl: devServerUrl ?? `${APP_ORIGIN}/index.html`, origin });
  }).catch((err: unknown) => {
    logger.error('startup failed', { err });
    app.exit(1);
  });

  app.on('window-all-closed', () => app.quit());

  // Close broker connections and the database before the process goes.
  app.on('before-quit', (event) => {
    if (!core || closing) return;
    event.preventDefault();
    closing = true;
    core
      .close()
      .catch((err: unknown) => logger.error('shutdown failed', { err }))
      .finally(() => app.quit());
    core = null;
  });
}
