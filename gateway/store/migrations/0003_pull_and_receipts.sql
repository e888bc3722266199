-- Each subscription's own event numbers (gap detection, as FHIR Subscriptions' eventNumber),
-- and receipts from recipients (AppRec or FHIR acknowledgement), linked to the message they answer.
ALTER TABLE deliveries ADD COLUMN event_number INTEGER;
CREATE UNIQUE INDEX deliveries_event_number ON deliveries(subscription_id, event_number);

CREATE TABLE receipts (
    receipt_id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,            -- the outbound message answered; may be unknown to us
    known INTEGER NOT NULL,              -- 1 if message_id is one of ours
    status TEXT NOT NULL,                -- ok | rejected | ok-with-errors (AppRec 8258: 1, 2, 3)
    errors TEXT NOT NULL,                -- JSON list of {code, text}
    sender TEXT,                         -- who answered (HER-id), when known
    format TEXT NOT NULL,                -- fhir | apprec
    received_at TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX receipts_message ON receipts(message_id);
