/**
 * The saga as a pure state machine: which step runs first, which runs after a step
 * succeeded or failed, and which HTTP call a step is. No I/O here; the worker performs the
 * calls and the store records the progress.
 */

export const SAGA_KINDS = ['deposit', 'withdraw'] as const;
export type SagaKind = (typeof SAGA_KINDS)[number];

export const FORWARD_STEPS = ['deposit_balance', 'withdraw_count', 'withdraw_balance'] as const;
export const COMPENSATION_STEPS = ['deposit_balance_comp', 'withdraw_balance_comp', 'withdraw_count_comp'] as const;
export const SAGA_STEPS = [...FORWARD_STEPS, ...COMPENSATION_STEPS] as const;

export type ForwardStep = (typeof FORWARD_STEPS)[number];
export type CompensationStep = (typeof COMPENSATION_STEPS)[number];
export type SagaStep = ForwardStep | CompensationStep;

/** The status a client sees for a saga that has not finished. */
export const PENDING = 'status#pending';
export const SAGA_STATUSES = [PENDING, 'status#success', 'status#success_rollback'] as const;
export type SagaStatus = (typeof SAGA_STATUSES)[number];
export type FinalStatus = Exclude<SagaStatus, typeof PENDING>;

/**
 * What happened to one step. `failed` is a business failure (a 4xx) or, for a compensation,
 * one more failed attempt; `exhausted` means the step kept failing for its whole retry budget.
 */
export type StepOutcome = 'succeeded' | 'failed' | 'exhausted';
export const STEP_OUTCOMES: readonly StepOutcome[] = ['succeeded', 'failed', 'exhausted'];

/**
 * `stuck`: a compensation exhausted its budget. The saga stops where it is, still pending to
 * clients and still holding the account lock (so no money moves), for an operator to look at.
 */
export type Transition =
  | { kind: 'run'; step: SagaStep }
  | { kind: 'retry'; step: CompensationStep }
  | { kind: 'stuck'; step: CompensationStep }
  | { kind: 'finish'; status: FinalStatus };

/** Which steps belong to which kind of saga. */
export const STEPS_OF: Readonly<Record<SagaKind, readonly SagaStep[]>> = {
  deposit: ['deposit_balance', 'deposit_balance_comp'],
  withdraw: ['withdraw_count', 'withdraw_balance', 'withdraw_balance_comp', 'withdraw_count_comp'],
};

export class InvalidTransitionError extends Error {
  override name = 'InvalidTransitionError';
}

export function firstStep(kind: SagaKind): ForwardStep {
  return kind === 'deposit' ? 'deposit_balance' : 'withdraw_count';
}

export function isCompensation(step: SagaStep): step is CompensationStep {
  return (COMPENSATION_STEPS as readonly string[]).includes(step);
}

export function isSagaStep(value: unknown): value is SagaStep {
  return typeof value === 'string' && (SAGA_STEPS as readonly string[]).includes(value);
}

/**
 * The step after `step` ended with `outcome`. A failed (or exhausted) forward step starts the
 * compensations of everything that may have applied (itself included, since a timed-out call
 * may have landed); a failed compensation is run again, an exhausted one leaves the saga stuck.
 */
export function nextStep(kind: SagaKind, step: SagaStep, outcome: StepOutcome): Transition {
  if (!STEPS_OF[kind].includes(step)) {
    throw new InvalidTransitionError(`step ${step} is not part of a ${kind} saga`);
  }
  if (isCompensation(step) && outcome === 'failed') return { kind: 'retry', step };
  if (isCompensation(step) && outcome === 'exhausted') return { kind: 'stuck', step };
  switch (step) {
    case 'deposit_balance':
      return outcome === 'succeeded' ? finish('status#success') : run('deposit_balance_comp');
    case 'deposit_balance_comp':
      return finish('status#success_rollback');
    case 'withdraw_count':
      return outcome === 'succeeded' ? run('withdraw_balance') : run('withdraw_count_comp');
    case 'withdraw_balance':
      return outcome === 'succeeded' ? finish('status#success') : run('withdraw_balance_comp');
    case 'withdraw_balance_comp':
      return run('withdraw_count_comp');
    case 'withdraw_count_comp':
      return finish('status#success_rollback');
  }
}

const run = (step: SagaStep): Transition => ({ kind: 'run', step });
const finish = (status: FinalStatus): Transition => ({ kind: 'finish', status });

/** What a step needs to know about its saga. */
export interface StepContext {
  transactionId: string;
  quantity: number;
  period: string;
  /** The account's withdrawal count this period, known once `withdraw_count` succeeded. */
  withdrawalCount?: number;
}

export type TargetService = 'balance' | 'count';

/** The idempotent HTTP call (always a PUT) that performs a step. */
export interface StepRequest {
  service: TargetService;
  path: string;
  body: Record<string, string | number>;
}

export function stepRequest(step: SagaStep, saga: StepContext): StepRequest {
  const { transactionId, quantity, period } = saga;
  switch (step) {
    case 'deposit_balance':
      return { service: 'balance', path: '/balance/deposit', body: { quantity, transactionId } };
    case 'deposit_balance_comp':
      return { service: 'balance', path: '/balance/cancel_deposit', body: { transactionId } };
    case 'withdraw_count':
      return { service: 'count', path: '/count/withdraw', body: { period, transactionId } };
    case 'withdraw_balance':
      if (saga.withdrawalCount === undefined) {
        throw new InvalidTransitionError(`withdraw_balance of ${transactionId} needs the withdrawal count`);
      }
      return { service: 'balance', path: '/balance/withdraw', body: { quantity, transactionId, withdrawalCount: saga.withdrawalCount } };
    case 'withdraw_balance_comp':
      return { service: 'balance', path: '/balance/cancel_withdraw', body: { transactionId } };
    case 'withdraw_count_comp':
      return { service: 'count', path: '/count/cancel_withdraw', body: { period, transactionId } };
  }
}
