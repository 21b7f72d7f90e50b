-- Up Migration

-- Withdrawals per account per period (calendar month in Asia/Tokyo, 'YYYY-MM').
CREATE TABLE withdrawal_counts (
  account_id text NOT NULL,
  period text NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
  count integer NOT NULL CHECK (count >= 0),
  PRIMARY KEY (account_id, period)
);

-- Every count operation, appended once: a replay answers the count it answered the first
-- time, and a cancel recorded before its withdrawal (outcome 'noop') bars that withdrawal.
CREATE TABLE count_ledger (
  transaction_id uuid NOT NULL,
  operation text NOT NULL CHECK (operation IN ('withdraw', 'cancel_withdraw')),
  account_id text NOT NULL,
  period text NOT NULL,
  outcome text NOT NULL CHECK (outcome IN ('applied', 'noop')),
  count_after integer NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (transaction_id, operation)
);

-- Down Migration
DROP TABLE count_ledger;
DROP TABLE withdrawal_counts;
