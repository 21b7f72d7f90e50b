import { describe, expect, it } from 'vitest';
import {
  COMPENSATION_STEPS,
  firstStep,
  InvalidTransitionError,
  isCompensation,
  nextStep,
  SAGA_STEPS,
  STEP_OUTCOMES,
  STEPS_OF,
  stepRequest,
  type SagaKind,
  type SagaStep,
  type StepOutcome,
  type Transition,
} from './machine.ts';

// Every (kind, step, outcome) triple of the SPEC's saga, written out by hand.
const TRANSITIONS: Array<[SagaKind, SagaStep, StepOutcome, Transition]> = [
  ['deposit', 'deposit_balance', 'succeeded', { kind: 'finish', status: 'status#success' }],
  ['deposit', 'deposit_balance', 'failed', { kind: 'run', step: 'deposit_balance_comp' }],
  ['deposit', 'deposit_balance', 'exhausted', { kind: 'run', step: 'deposit_balance_comp' }],
  ['deposit', 'deposit_balance_comp', 'succeeded', { kind: 'finish', status: 'status#success_rollback' }],
  ['deposit', 'deposit_balance_comp', 'failed', { kind: 'retry', step: 'deposit_balance_comp' }],
  ['deposit', 'deposit_balance_comp', 'exhausted', { kind: 'stuck', step: 'deposit_balance_comp' }],
  ['withdraw', 'withdraw_count', 'succeeded', { kind: 'run', step: 'withdraw_balance' }],
  ['withdraw', 'withdraw_count', 'failed', { kind: 'run', step: 'withdraw_count_comp' }],
  ['withdraw', 'withdraw_count', 'exhausted', { kind: 'run', step: 'withdraw_count_comp' }],
  ['withdraw', 'withdraw_balance', 'succeeded', { kind: 'finish', status: 'status#success' }],
  ['withdraw', 'withdraw_balance', 'failed', { kind: 'run', step: 'withdraw_balance_comp' }],
  ['withdraw', 'withdraw_balance', 'exhausted', { kind: 'run', step: 'withdraw_balance_comp' }],
  ['withdraw', 'withdraw_balance_comp', 'succeeded', { kind: 'run', step: 'withdraw_count_comp' }],
  ['withdraw', 'withdraw_balance_comp', 'failed', { kind: 'retry', step: 'withdraw_balance_comp' }],
  ['withdraw', 'withdraw_balance_comp', 'exhausted', { kind: 'stuck', step: 'withdraw_balance_comp' }],
  ['withdraw', 'withdraw_count_comp', 'succeeded', { kind: 'finish', status: 'status#success_rollback' }],
  ['withdraw', 'withdraw_count_comp', 'failed', { kind: 'retry', step: 'withdraw_count_comp' }],
  ['withdraw', 'withdraw_count_comp', 'exhausted', { kind: 'stuck', step: 'withdraw_count_comp' }],
];

describe('saga state machine', () => {
  it.each(TRANSITIONS)('%s: %s %s → %o', (kind, step, outcome, expected) => {
    expect(nextStep(kind, step, outcome)).toEqual(expected);
  });

  it('the table above covers every valid (kind, step, outcome) triple', () => {
    const covered = new Set(TRANSITIONS.map(([kind, step, outcome]) => `${kind}/${step}/${outcome}`));
    const all = (['deposit', 'withdraw'] as const).flatMap((kind) =>
      STEPS_OF[kind].flatMap((step) => STEP_OUTCOMES.map((outcome) => `${kind}/${step}/${outcome}`)),
    );
    expect([...covered].sort()).toEqual(all.sort());
    expect(STEPS_OF.deposit.length + STEPS_OF.withdraw.length).toBe(SAGA_STEPS.length);
  });

  it('rejects a step of the other kind of saga', () => {
    for (const kind of ['deposit', 'withdraw'] as const) {
      for (const step of SAGA_STEPS.filter((s) => !STEPS_OF[kind].includes(s))) {
        for (const outcome of STEP_OUTCOMES) {
          expect(() => nextStep(kind, step, outcome)).toThrow(InvalidTransitionError);
        }
      }
    }
  });

  it('starts a deposit at deposit_balance and a withdrawal at withdraw_count', () => {
    expect(firstStep('deposit')).toBe('deposit_balance');
    expect(firstStep('withdraw')).toBe('withdraw_count');
  });

  it('knows which steps are compensations', () => {
    expect(SAGA_STEPS.filter(isCompensation)).toEqual([...COMPENSATION_STEPS]);
  });

  it('every path through a saga ends, and every success path runs the forward steps in order', () => {
    // Walk every combination of outcomes (compensations eventually succeed; an exhausted one is below).
    const walk = (kind: SagaKind, step: SagaStep, path: string[], ends: string[][]) => {
      for (const outcome of ['succeeded', 'failed'] as const) {
        if (isCompensation(step) && outcome === 'failed') continue;
        const next = nextStep(kind, step, outcome);
        const trail = [...path, `${step}:${outcome}`];
        if (next.kind === 'finish') ends.push([...trail, next.status]);
        else walk(kind, next.step, trail, ends);
      }
      return ends;
    };
    expect(walk('deposit', 'deposit_balance', [], [])).toEqual([
      ['deposit_balance:succeeded', 'status#success'],
      ['deposit_balance:failed', 'deposit_balance_comp:succeeded', 'status#success_rollback'],
    ]);
    expect(walk('withdraw', 'withdraw_count', [], [])).toEqual([
      ['withdraw_count:succeeded', 'withdraw_balance:succeeded', 'status#success'],
      ['withdraw_count:succeeded', 'withdraw_balance:failed', 'withdraw_balance_comp:succeeded', 'withdraw_count_comp:succeeded', 'status#success_rollback'],
      ['withdraw_count:failed', 'withdraw_count_comp:succeeded', 'status#success_rollback'],
    ]);
  });

  it('a saga is stuck only at a compensation that exhausted its budget, never finished from there', () => {
    for (const kind of ['deposit', 'withdraw'] as const) {
      for (const step of STEPS_OF[kind]) {
        for (const outcome of STEP_OUTCOMES) {
          const next = nextStep(kind, step, outcome);
          expect(next.kind === 'stuck').toBe(isCompensation(step) && outcome === 'exhausted');
          if (next.kind === 'stuck') expect(next.step).toBe(step);
        }
      }
    }
  });
});

describe('stepRequest', () => {
  const saga = { transactionId: '0b7c4a86-8d3e-4f55-9d0f-8f7e3c6a9b21', quantity: 1500, period: '2026-11', withdrawalCount: 4 };

  it.each([
    ['deposit_balance', 'balance', '/balance/deposit', { quantity: 1500, transactionId: saga.transactionId }],
    ['deposit_balance_comp', 'balance', '/balance/cancel_deposit', { transactionId: saga.transactionId }],
    ['withdraw_count', 'count', '/count/withdraw', { period: '2026-11', transactionId: saga.transactionId }],
    ['withdraw_balance', 'balance', '/balance/withdraw', { quantity: 1500, transactionId: saga.transactionId, withdrawalCount: 4 }],
    ['withdraw_balance_comp', 'balance', '/balance/cancel_withdraw', { transactionId: saga.transactionId }],
    ['withdraw_count_comp', 'count', '/count/cancel_withdraw', { period: '2026-11', transactionId: saga.transactionId }],
  ] as const)('%s calls %s %s', (step, service, path, body) => {
    expect(stepRequest(step, saga)).toEqual({ service, path, body });
  });

  it('refuses withdraw_balance before the withdrawal count is known', () => {
    const { withdrawalCount: _unknown, ...withoutCount } = saga;
    expect(() => stepRequest('withdraw_balance', withoutCount)).toThrow(InvalidTransitionError);
  });
});
