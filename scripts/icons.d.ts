export const PNG_SIZES: number[];
export const ICO_SIZES: number[];
export const ICNS_TYPES: Record<number, string>;
export const TRAY_BADGES: Record<'healthy' | 'degraded' | 'down' | 'disconnected', string>;
export function ico(images: Array<{ size: number; png: Buffer }>): Buffer;
export function icns(images: Array<{ size: number; png: Buffer }>): Buffer;
