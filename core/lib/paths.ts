import { homedir } from 'node:os';
import { join } from 'node:path';

/** Per-user data folder of the headless core (the desktop app uses Electron's userData). */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (platform === 'win32') return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'Meshdeck');
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'Meshdeck');
  return join(env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'meshdeck');
}
