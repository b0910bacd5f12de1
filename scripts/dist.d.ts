export interface DistPlanOptions {
  env?: Record<string, string | undefined>;
  platform?: NodeJS.Platform;
  arch?: string;
  electronVersion: string;
  exists?: (path: string) => boolean;
  electronBinary?: string;
}
export interface DistPlan {
  error?: string;
  args?: string[];
  download?: string | null;
}
export function electronCacheDir(env?: Record<string, string | undefined>, platform?: NodeJS.Platform): string;
export function distPlan(options: DistPlanOptions): DistPlan;
