import { describe, expect, it } from 'vitest';
import { Value } from 'typebox/value';
import { TransactionId } from './schemas.ts';

describe('TransactionId', () => {
  it('accepts a UUID, in either case', () => {
    expect(Value.Check(TransactionId, '0b7c4a86-8d3e-4f55-9d0f-8f7e3c6a9b21')).toBe(true);
    expect(Value.Check(TransactionId, '0B7C4A86-8D3E-4F55-9D0F-8F7E3C6A9B21')).toBe(true);
  });

  it.each([
    ['36 dashes', '-'.repeat(36)],
    ['hex without dashes', '0b7c4a868d3e4f559d0f8f7e3c6a9b21'],
    ['one character short', '0b7c4a86-8d3e-4f55-9d0f-8f7e3c6a9b2'],
    ['one character long', '0b7c4a86-8d3e-4f55-9d0f-8f7e3c6a9b211'],
    ['dashes in the wrong places', '0b7c4a868-d3e-4f55-9d0f-8f7e3c6a9b21'],
    ['a non-hex letter', '0b7c4a86-8d3e-4f55-9d0f-8f7e3c6a9b2g'],
    ['surrounding whitespace', ' 0b7c4a86-8d3e-4f55-9d0f-8f7e3c6a9b21'],
    ['empty', ''],
  ])('rejects %s', (_what, value) => {
    expect(Value.Check(TransactionId, value)).toBe(false);
  });
});
