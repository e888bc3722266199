-- Push and pull subscribers, and one delivery row per (subscription, outbound message).
CREATE TABLE subscriptions (
    subscription_id TEXT PRIMARY KEY,
    her_ids TEXT NOT NULL,            -- JSON list of recipient HER-ids
    message_types TEXT NOT NULL,      -- JSON list; empty = all
    format TEXT NOT NULL,             -- fhir+json
    mode TEXT NOT NULL,               -- push | pull
    endpoint TEXT,
    secrets TEXT NOT NULL,            -- JSON list: the current secret first, then one being rotated out
    status TEXT NOT NULL,             -- active | disabled
    created_at TEXT NOT NULL
);

CREATE TABLE deliveries (
    subscription_id TEXT NOT NULL REFERENCES subscriptions(subscription_id),
    outbound_seq INTEGER NOT NULL REFERENCES outbound(seq),
    order_key TEXT NOT NULL,          -- messages with the same key go out in seq order (one patient)
    status TEXT NOT NULL,             -- pending | delivered | dead
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    delivered_at TEXT,
    PRIMARY KEY (subscription_id, outbound_seq)
);
CREATE INDEX deliveries_due ON deliveries(status, next_attempt_at);
CREATE INDEX deliveries_order ON deliveries(subscription_id, order_key, status, outbound_seq);
