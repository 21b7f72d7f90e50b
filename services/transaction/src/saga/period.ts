/** Withdrawal counts reset each calendar month in Japan, whatever the server's time zone. */
export const PERIOD_TIME_ZONE = 'Asia/Tokyo';

const monthInTokyo = new Intl.DateTimeFormat('en-US', {
  timeZone: PERIOD_TIME_ZONE,
  year: 'numeric',
  month: '2-digit',
});

/** The fee period of an instant: its calendar month in Asia/Tokyo, as "YYYY-MM". */
export function periodOf(instant: Date): string {
  if (Number.isNaN(instant.getTime())) throw new RangeError('periodOf needs a valid date');
  let year = '';
  let month = '';
  for (const part of monthInTokyo.formatToParts(instant)) {
    if (part.type === 'year') year = part.value;
    else if (part.type === 'month') month = part.value;
  }
  return `${year.padStart(4, '0')}-${month}`;
}
