-- Up Migration

-- Each count operation is one call of one of these functions: one round trip, one database
-- transaction, serialised on the transaction id, answered from the ledger when it is a replay.
--
-- Outcomes: applied, already_applied, noop (a cancel of a withdrawal never counted),
-- cancelled (the withdrawal's cancel is recorded: it never counts, even if it had counted
-- before its cancel), mismatch (the transaction id belongs to another account or period).

-- Counts one withdrawal and answers its rank in the period (1 for the first).
CREATE FUNCTION count_withdrawal(p_transaction_id uuid, p_account_id text, p_period text)
RETURNS TABLE (outcome text, count integer)
LANGUAGE plpgsql AS $$
DECLARE
  previous count_ledger%ROWTYPE;
  new_count integer;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended(p_transaction_id::text, 0));
  SELECT * INTO previous FROM count_ledger l WHERE l.transaction_id = p_transaction_id AND l.operation = 'withdraw';
  IF previous.transaction_id IS NOT NULL AND (previous.account_id <> p_account_id OR previous.period <> p_period) THEN
    RETURN QUERY SELECT 'mismatch', NULL::integer;
    RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM count_ledger l WHERE l.transaction_id = p_transaction_id AND l.operation = 'cancel_withdraw') THEN
    RETURN QUERY SELECT 'cancelled', NULL::integer;
    RETURN;
  END IF;
  IF previous.transaction_id IS NOT NULL THEN
    RETURN QUERY SELECT 'already_applied', previous.count_after;
    RETURN;
  END IF;

  INSERT INTO withdrawal_counts AS w (account_id, period, count) VALUES (p_account_id, p_period, 1)
  ON CONFLICT (account_id, period) DO UPDATE SET count = w.count + 1
  RETURNING w.count INTO new_count;
  INSERT INTO count_ledger (transaction_id, operation, account_id, period, outcome, count_after)
  VALUES (p_transaction_id, 'withdraw', p_account_id, p_period, 'applied', new_count);
  RETURN QUERY SELECT 'applied', new_count;
END;
$$;

-- Takes back a counted withdrawal, in the period it was counted in whatever period the
-- caller names; a cancel of one never counted is recorded as a no-op that bars it.
CREATE FUNCTION cancel_withdrawal_count(p_transaction_id uuid, p_account_id text, p_period text)
RETURNS TABLE (outcome text, count integer)
LANGUAGE plpgsql AS $$
DECLARE
  previous count_ledger%ROWTYPE;
  counted count_ledger%ROWTYPE;
  new_count integer;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended(p_transaction_id::text, 0));
  SELECT * INTO previous FROM count_ledger l WHERE l.transaction_id = p_transaction_id AND l.operation = 'cancel_withdraw';
  IF previous.transaction_id IS NOT NULL THEN
    RETURN QUERY SELECT CASE WHEN previous.account_id <> p_account_id THEN 'mismatch' ELSE 'already_applied' END,
      COALESCE((SELECT w.count FROM withdrawal_counts w WHERE w.account_id = p_account_id AND w.period = previous.period), 0);
    RETURN;
  END IF;
  SELECT * INTO counted FROM count_ledger l WHERE l.transaction_id = p_transaction_id AND l.operation = 'withdraw';
  IF counted.transaction_id IS NOT NULL AND counted.account_id <> p_account_id THEN
    RETURN QUERY SELECT 'mismatch', NULL::integer;
    RETURN;
  END IF;

  IF counted.transaction_id IS NULL THEN
    new_count := COALESCE((SELECT w.count FROM withdrawal_counts w WHERE w.account_id = p_account_id AND w.period = p_period), 0);
    INSERT INTO count_ledger (transaction_id, operation, account_id, period, outcome, count_after)
    VALUES (p_transaction_id, 'cancel_withdraw', p_account_id, p_period, 'noop', new_count);
    RETURN QUERY SELECT 'noop', new_count;
    RETURN;
  END IF;

  UPDATE withdrawal_counts w SET count = w.count - 1
    WHERE w.account_id = p_account_id AND w.period = counted.period AND w.count > 0
  RETURNING w.count INTO new_count;
  new_count := COALESCE(new_count, 0);
  INSERT INTO count_ledger (transaction_id, operation, account_id, period, outcome, count_after)
  VALUES (p_transaction_id, 'cancel_withdraw', p_account_id, counted.period, 'applied', new_count);
  RETURN QUERY SELECT 'applied', new_count;
END;
$$;

-- Down Migration
DROP FUNCTION cancel_withdrawal_count(uuid, text, text);
DROP FUNCTION count_withdrawal(uuid, text, text);
