// Formatting helpers: instants in the reader's locale, durations in words.

export function instant(ms: number | null | undefined): string {
  if (ms == null) return '—';
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** `2h 5m`, `3d 4h`, `45s`; negative durations read as overdue by the caller. */
export function duration(ms: number): string {
  const abs = Math.abs(ms);
  const s = Math.floor(abs / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return h ? `${d}d ${h}h` : `${d}d`;
  if (h > 0) return m ? `${h}h ${m}m` : `${h}h`;
  if (m > 0) return `${m}m`;
  return `${s}s`;
}

/** Basis points as a percentage with one decimal. */
export function percent(bp: number | null | undefined): string {
  if (bp == null) return '—';
  return `${(bp / 100).toFixed(1)}%`;
}
