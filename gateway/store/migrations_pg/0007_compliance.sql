CREATE TABLE compliance_items (
    stay_id BIGINT NOT NULL REFERENCES stays(stay_id),
    rule_id TEXT NOT NULL,
    episode TEXT NOT NULL,
    kind TEXT NOT NULL,
    message_type TEXT,
    due_at TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    closed_at TEXT,
    done_at TEXT,
    PRIMARY KEY (stay_id, rule_id, episode, kind)
);
CREATE INDEX compliance_items_open ON compliance_items(closed_at, kind);
