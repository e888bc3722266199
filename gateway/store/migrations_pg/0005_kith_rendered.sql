CREATE TABLE rendered (
    message_id TEXT NOT NULL,
    format TEXT NOT NULL,
    status TEXT NOT NULL,
    errors BYTEA NOT NULL,       -- JSON list of schema errors, values redacted
    body BYTEA,
    created_at TEXT NOT NULL,
    PRIMARY KEY (message_id, format)
);
