CREATE TABLE subscriptions (
    subscription_id TEXT PRIMARY KEY,
    her_ids BYTEA NOT NULL,           -- JSON list of recipient HER-ids
    message_types BYTEA NOT NULL,     -- JSON list; empty = all
    format TEXT NOT NULL,
    mode TEXT NOT NULL,
    endpoint TEXT,
    secrets BYTEA NOT NULL,           -- JSON list: the current secret first
    status TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE deliveries (
    subscription_id TEXT NOT NULL REFERENCES subscriptions(subscription_id),
    outbound_seq BIGINT NOT NULL REFERENCES outbound(seq),
    order_key TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    delivered_at TEXT,
    PRIMARY KEY (subscription_id, outbound_seq)
);
CREATE INDEX deliveries_due ON deliveries(status, next_attempt_at);
CREATE INDEX deliveries_order ON deliveries(subscription_id, order_key, status, outbound_seq);
CREATE INDEX deliveries_outbound ON deliveries(outbound_seq);
