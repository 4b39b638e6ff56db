/** A boolean environment variable: `1`, `true`, `on`, `yes` (any case) are on; anything else is off. */
export function envFlag(value: string | undefined): boolean {
  return value !== undefined && ['1', 'true', 'on', 'yes'].includes(value.trim().toLowerCase());
}
