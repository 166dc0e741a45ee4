/**
 * Environment values → typed values for a zod schema: unset or empty is `undefined` (the schema's
 * default applies); a value that does not parse is passed through as it is, so that the schema
 * reports it against its variable.
 */

export const bool = (v: string | undefined): boolean | undefined => {
  if (v === undefined || v === '') return undefined;
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  return v as unknown as boolean; // let zod report the bad value
};
export const num = (v: string | undefined): number | undefined => {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : (v as unknown as number);
};
export const str = (v: string | undefined): string | undefined =>
  v === undefined || v === '' ? undefined : v;
export const list = (v: string | undefined): string[] | undefined =>
  v === undefined
    ? undefined
    : v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);

export function dropUndefined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
