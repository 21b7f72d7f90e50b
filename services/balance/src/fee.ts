/** From the 4th withdrawal in a month on, each withdrawal costs this much on top. */
export const WITHDRAWAL_FEE = 100;
export const FREE_WITHDRAWALS_PER_PERIOD = 3;

/** What a withdrawal takes from the balance, given its rank in the month (1-based, from the count service). */
export function withdrawalDebit(quantity: number, withdrawalCount: number): number {
  return withdrawalCount > FREE_WITHDRAWALS_PER_PERIOD ? quantity + WITHDRAWAL_FEE : quantity;
}
