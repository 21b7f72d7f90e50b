-- Up Migration

-- Each balance operation is one call of one of these functions: one round trip, one
-- database transaction. They serialise on the transaction id (an advisory lock held until
-- commit), answer a replay from the ledger before they look at the balance, and only then
-- move money, so a replay never fails for lack of money and never moves money twice.
--
-- Outcomes: applied, already_applied, noop (a cancel of a step that never applied),
-- rejected (the balance did not cover a withdrawal; recorded, so replays answer the same),
-- cancelled (the step's cancel is recorded: the step never applies, even if it had applied
-- before its cancel), other_account (the transaction id belongs to another account),
-- balance_limit (the deposit would pass 2^53 - 1; not recorded), uncovered (a deposit to
-- cancel was already spent; not recorded, the caller retries).

-- A forward step: 'deposit' credits p_amount, 'withdraw' debits p_amount if covered.
CREATE FUNCTION balance_apply_step(p_transaction_id uuid, p_operation text, p_account_id text, p_amount bigint)
RETURNS TABLE (outcome text, balance bigint)
LANGUAGE plpgsql AS $$
DECLARE
  previous ledger%ROWTYPE;
  new_balance bigint;
BEGIN
  IF p_operation NOT IN ('deposit', 'withdraw') THEN
    RAISE EXCEPTION 'balance_apply_step: unknown operation %', p_operation;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtextextended(p_transaction_id::text, 0));
  SELECT * INTO previous FROM ledger l WHERE l.transaction_id = p_transaction_id AND l.operation = p_operation;
  IF previous.transaction_id IS NOT NULL AND previous.account_id <> p_account_id THEN
    RETURN QUERY SELECT 'other_account', NULL::bigint;
    RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM ledger l WHERE l.transaction_id = p_transaction_id AND l.operation = 'cancel_' || p_operation) THEN
    RETURN QUERY SELECT 'cancelled', NULL::bigint;
    RETURN;
  END IF;
  IF previous.transaction_id IS NOT NULL THEN
    RETURN QUERY SELECT CASE WHEN previous.outcome = 'rejected' THEN 'rejected' ELSE 'already_applied' END,
      COALESCE((SELECT a.balance FROM accounts a WHERE a.account_id = p_account_id), 0);
    RETURN;
  END IF;

  IF p_operation = 'deposit' THEN
    INSERT INTO accounts AS a (account_id, balance) VALUES (p_account_id, p_amount)
    ON CONFLICT (account_id) DO UPDATE SET balance = a.balance + EXCLUDED.balance, updated_at = now()
      WHERE a.balance <= 9007199254740991 - EXCLUDED.balance
    RETURNING a.balance INTO new_balance;
    IF new_balance IS NULL THEN
      RETURN QUERY SELECT 'balance_limit', NULL::bigint;
      RETURN;
    END IF;
  ELSE
    -- The row lock makes concurrent debits queue; the WHERE keeps the balance from going negative.
    UPDATE accounts a SET balance = a.balance - p_amount, updated_at = now()
      WHERE a.account_id = p_account_id AND a.balance >= p_amount
    RETURNING a.balance INTO new_balance;
  END IF;

  INSERT INTO ledger (transaction_id, operation, account_id, amount, outcome, balance_after)
  VALUES (p_transaction_id, p_operation, p_account_id,
          CASE WHEN new_balance IS NULL THEN 0 ELSE p_amount END,
          CASE WHEN new_balance IS NULL THEN 'rejected' ELSE 'applied' END,
          new_balance);
  RETURN QUERY SELECT CASE WHEN new_balance IS NULL THEN 'rejected' ELSE 'applied' END, new_balance;
END;
$$;

-- A compensation: 'cancel_deposit' or 'cancel_withdraw' undoes exactly what its step moved
-- (the amount comes from the ledger), and is recorded either way, so the step can never
-- apply afterwards.
CREATE FUNCTION balance_cancel_step(p_transaction_id uuid, p_operation text, p_account_id text)
RETURNS TABLE (outcome text, balance bigint)
LANGUAGE plpgsql AS $$
DECLARE
  step_operation text;
  previous ledger%ROWTYPE;
  step ledger%ROWTYPE;
  new_balance bigint;
BEGIN
  step_operation := CASE p_operation WHEN 'cancel_deposit' THEN 'deposit' WHEN 'cancel_withdraw' THEN 'withdraw' END;
  IF step_operation IS NULL THEN
    RAISE EXCEPTION 'balance_cancel_step: unknown operation %', p_operation;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtextextended(p_transaction_id::text, 0));
  SELECT * INTO previous FROM ledger l WHERE l.transaction_id = p_transaction_id AND l.operation = p_operation;
  IF previous.transaction_id IS NOT NULL THEN
    RETURN QUERY SELECT CASE WHEN previous.account_id <> p_account_id THEN 'other_account' ELSE 'already_applied' END,
      COALESCE((SELECT a.balance FROM accounts a WHERE a.account_id = p_account_id), 0);
    RETURN;
  END IF;
  SELECT * INTO step FROM ledger l WHERE l.transaction_id = p_transaction_id AND l.operation = step_operation;
  IF step.transaction_id IS NOT NULL AND step.account_id <> p_account_id THEN
    RETURN QUERY SELECT 'other_account', NULL::bigint;
    RETURN;
  END IF;

  IF step.transaction_id IS NULL OR step.outcome <> 'applied' THEN
    INSERT INTO ledger (transaction_id, operation, account_id, amount, outcome, balance_after)
    VALUES (p_transaction_id, p_operation, p_account_id, 0, 'noop', NULL);
    RETURN QUERY SELECT 'noop', COALESCE((SELECT a.balance FROM accounts a WHERE a.account_id = p_account_id), 0);
    RETURN;
  END IF;

  IF p_operation = 'cancel_deposit' THEN
    UPDATE accounts a SET balance = a.balance - step.amount, updated_at = now()
      WHERE a.account_id = p_account_id AND a.balance >= step.amount
    RETURNING a.balance INTO new_balance;
    IF new_balance IS NULL THEN
      RETURN QUERY SELECT 'uncovered', NULL::bigint;
      RETURN;
    END IF;
  ELSE
    UPDATE accounts a SET balance = a.balance + step.amount, updated_at = now()
      WHERE a.account_id = p_account_id
    RETURNING a.balance INTO new_balance;
  END IF;

  INSERT INTO ledger (transaction_id, operation, account_id, amount, outcome, balance_after)
  VALUES (p_transaction_id, p_operation, p_account_id, step.amount, 'applied', new_balance);
  RETURN QUERY SELECT 'applied', new_balance;
END;
$$;

-- Down Migration
DROP FUNCTION balance_cancel_step(uuid, text, text);
DROP FUNCTION balance_apply_step(uuid, text, text, bigint);
