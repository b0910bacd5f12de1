/**
 * Desktop entry point: hosts the mesh control core in the main process and shows the renderer.
 * Thin on purpose: the core is plain Node (core/), the UI is the same bundle the headless host
 * serves; this file only wires them, and the desktop integration (menu, tray, notifications,
 * window state, logs, shutdown), with Electron's security features switched on. The rules live
 * in the modules beside it, each unit-tested with Electron replaced at the module boundary.
 */
import { app, dialog, Menu, safeStorage, screen, session, shell, type BrowserWindow } from 'electron';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMeshCore, type MeshCore } from '../../core/app';
import { electronJsFlags, HEAP_GROWING_PERCENT, semiSpaceCap, tuneHeap } from '../../core/lib/heap';
import { createLogger } from '../../core/lib/log';
import { rotatingFileSink, teeSink } from '../../core/lib/log-file';
import { MESHDECK_VERSION } from '../../core/version';
import { registerApiBridge } from './ipc';
import { handleAppProtocol, registerAppScheme } from './app-protocol';
import { aboutDetail, menuTemplate } from './menu';
import { watchIncidentNotifications } from './incident-notifications';
import { showIncidentNotification } from './notifications';
import { safeStorageSecretStore } from './secrets';
import { APP_ORIGIN, CONTENT_SECURITY_POLICY, rendererOrigin } from './security';
import { installShutdown } from './shutdown';
import { createHealthTray, type HealthTray } from './tray';
import { createMainWindow, hardenWebContents, openExternalIfAllowed } from './window';
import { clampWindowState, readWindowState, trackWindowState } from './window-state';

// Heaps sized for memory before the core allocates anything (core/lib/heap.ts).
tuneHeap();

// JSON lines to <userData>/logs/meshdeck.log (rotated at 5 MiB, 4 kept) and to stderr.
const logFile = rotatingFileSink({ dir: join(app.getPath('userData'), 'logs') });
const logger = createLogger({ component: 'desktop', sink: teeSink(logFile.sink, (line) => process.stderr.write(line + '\n')) });
const devServerUrl = process.env.ELECTRON_RENDERER_URL;
const origin = rendererOrigin(devServerUrl);
const rendererDir = fileURLToPath(new URL('../renderer/', import.meta.url));
const preloadPath = fileURLToPath(new URL('../preload/index.cjs', import.meta.url));
/** The telemetry history's worker thread, built next to this file (electron.vite.config.ts); run from source (tests), the history is written inline. */
const historyWorker = fileURLToPath(new URL('./history-worker.js', import.meta.url));
const trayIconDir = app.isPackaged ? join(process.resourcesPath, 'tray') : join(app.getAppPath(), 'resources', 'tray');
const windowStateFile = join(app.getPath('userData'), 'window-state.json');

registerAppScheme();
app.enableSandbox();

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  let core: MeshCore | null = null;
  let mainWindow: BrowserWindow | null = null;
  let tray: HealthTray | null = null;

  /** Brings the window to the front (second launch, tray, notification click). */
  const focusWindow = () => {
    if (!mainWindow || mainWindow.isDestroyed()) return;
    if (mainWindow.isMinimized()) mainWindow.restore();
    mainWindow.show();
    mainWindow.focus();
  };

  app.on('web-contents-created', (_event, contents) => hardenWebContents(contents, origin));
  app.on('second-instance', focusWindow);

  app.whenReady().then(() => {
    logger.info('starting', { version: MESHDECK_VERSION, electron: process.versions.electron, logFile: logFile.path });
    // Electron takes V8 flags for its main process as --js-flags on the command line (the Linux launchers pass HOST_NODE_FLAGS: electron-builder.yml).
    logger.info('heap sizing', { growingPercent: HEAP_GROWING_PERCENT, semiSpaceMb: semiSpaceCap(electronJsFlags(), undefined) });
    if (devServerUrl) {
      session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
        callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] } });
      });
    }
    handleAppProtocol(rendererDir);
    Menu.setApplicationMenu(
      Menu.buildFromTemplate(
        menuTemplate(
          process.platform,
          {
            revealLogs: () => shell.showItemInFolder(logFile.path),
            showAbout: () =>
              void dialog.showMessageBox({
                type: 'info',
                title: 'About Meshdeck',
                message: 'Meshdeck',
                detail: aboutDetail({ meshdeck: MESHDECK_VERSION, electron: process.versions.electron, chrome: process.versions.chrome, node: process.versions.node }),
              }),
            openExternal: (url) => void openExternalIfAllowed(url),
          },
          { devTools: !app.isPackaged },
        ),
      ),
    );

    // The window first: the renderer loads while the core opens its database and connects.
    const displays = [screen.getPrimaryDisplay(), ...screen.getAllDisplays().filter((d) => d.id !== screen.getPrimaryDisplay().id)];
    const state = clampWindowState(readWindowState(windowStateFile), displays.map((d) => d.workArea));
    mainWindow = createMainWindow({ preloadPath, rendererUrl: devServerUrl ?? `${APP_ORIGIN}/index.html`, origin, state });
    trackWindowState(mainWindow, windowStateFile, (err) => logger.warn('window state not saved', { err }));

    core = createMeshCore({
      databasePath: join(app.getPath('userData'), 'meshdeck.db'),
      secrets: safeStorageSecretStore(safeStorage, process.platform),
      logger,
      host: 'electron',
      ...(existsSync(historyWorker) ? { historyWorker } : {}),
      ...(process.env.MESHDECK_BROKER ? { commandLineBroker: process.env.MESHDECK_BROKER } : {}),
    });
    registerApiBridge(core.router, origin, logger);

    tray = createHealthTray(core.router, trayIconDir, focusWindow);
    watchIncidentNotifications(core.router, (incident) =>
      showIncidentNotification(incident, (route) => {
        focusWindow();
        void mainWindow?.webContents.executeJavaScript(`location.hash = ${JSON.stringify(route)}`);
      }),
    );
  }).catch((err: unknown) => {
    // E.g. a database written by a newer Meshdeck: say so in a dialog, not just in the log.
    logger.error('startup failed', { err });
    dialog.showErrorBox('Meshdeck cannot start', `${err instanceof Error ? err.message : String(err)}\n\nLog: ${logFile.path}`);
    app.exit(1);
  });

  app.on('window-all-closed', () => app.quit());

  // Close broker connections and the database before the process goes (quit, SIGTERM, SIGINT).
  installShutdown({
    app,
    logger,
    close: () => {
      tray?.destroy();
      tray = null;
      return core ? core.close() : null;
    },
  });
}
