-- Deadline watcher (gateway/compliance/watcher.py): one row per stay, rule and episode.
-- kind: overdue (a deadline passed unmet) | escalated (a held message near its deadline).
-- An item is closed when what it waited for happened (met late, or the held message went out).
CREATE TABLE compliance_items (
    stay_id INTEGER NOT NULL REFERENCES stays(stay_id),
    rule_id TEXT NOT NULL,
    episode TEXT NOT NULL,               -- admission | ready episode key | discharge | message id …
    kind TEXT NOT NULL,                  -- overdue | escalated
    message_type TEXT,                   -- the message expected (or held)
    due_at TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    closed_at TEXT,                      -- when the watcher saw it met (NULL = still open)
    done_at TEXT,                        -- when the expected thing happened (late), if it did
    PRIMARY KEY (stay_id, rule_id, episode, kind)
);
CREATE INDEX compliance_items_open ON compliance_items(closed_at, kind);
