/** Parses Locust's --run-time syntax: `60`, `60s`, `2m`, `1h30m`, `1h 30m 10s`. Returns milliseconds. */
export function parseRunTime(text: string): number {
  const trimmed = text.trim().toLowerCase();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const match = /^(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?$/.exec(trimmed);
  if (!trimmed || !match || match.slice(1).every((part) => part === undefined)) {
    throw new Error(`invalid run time "${text}": use e.g. 60s, 2m, 1h30m`);
  }
  const [, hours = '0', minutes = '0', seconds = '0'] = match;
  return ((Number(hours) * 60 + Number(minutes)) * 60 + Number(seconds)) * 1000;
}
