-- Outbound messages rendered to another wire format (KITH XML), once per message: fetches and
-- delivery retries reuse the stored bytes. Written off the intake path, on first need.
CREATE TABLE rendered (
    message_id TEXT NOT NULL,
    format TEXT NOT NULL,        -- kith-xml
    status TEXT NOT NULL,        -- valid | unvalidated (no schema folder configured) | invalid | no-form
    errors TEXT NOT NULL,        -- JSON list of schema errors, values redacted (no patient data)
    body BLOB,                   -- the rendered message; NULL when it has no form or is invalid
    created_at TEXT NOT NULL,
    PRIMARY KEY (message_id, format)
);
