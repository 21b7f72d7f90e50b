import { describe, expect, it } from 'vitest';
import { withdrawalDebit } from './fee.ts';

describe('withdrawalDebit', () => {
  it.each([
    [50, 1, 50],
    [50, 3, 50],
    [50, 4, 150],
    [50, 10, 150],
  ])('quantity %i as withdrawal #%i takes %i', (quantity, count, debit) => {
    expect(withdrawalDebit(quantity, count)).toBe(debit);
  });
});
