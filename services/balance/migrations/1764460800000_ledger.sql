-- Up Migration

-- One row per account. The CHECK keeps a balance from ever going negative whatever the
-- caller does, and below 2^53 so it stays exact as a JavaScript number.
CREATE TABLE accounts (
  account_id text PRIMARY KEY,
  balance bigint NOT NULL DEFAULT 0
    CONSTRAINT balance_in_range CHECK (balance >= 0 AND balance <= 9007199254740991),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every operation the saga sends, appended once and never edited. The primary key makes a
-- repeated (transaction, operation) a replay rather than a second movement of money; a
-- cancel recorded before its step (outcome 'noop') stops that step from ever applying.
CREATE TABLE ledger (
  transaction_id uuid NOT NULL,
  operation text NOT NULL CHECK (operation IN ('deposit', 'withdraw', 'cancel_deposit', 'cancel_withdraw')),
  account_id text NOT NULL,
  amount bigint NOT NULL CHECK (amount >= 0),
  outcome text NOT NULL CHECK (outcome IN ('applied', 'rejected', 'noop')),
  balance_after bigint,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (transaction_id, operation)
);

CREATE INDEX ledger_account_idx ON ledger (account_id, created_at);

-- Down Migration
DROP TABLE ledger;
DROP TABLE accounts;
