-- Inbound messages, one row per accepted MessageHeader.id / MSH-10: the dedupe key and the evidence.
CREATE TABLE inbound (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,            -- fhir | hl7v2-mllp | hl7v2-http
    event_code TEXT,
    received_at TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    body BLOB NOT NULL,
    status TEXT NOT NULL,             -- accepted | processed | rejected
    response BLOB                     -- the answer given, replayed verbatim to a duplicate
);

-- One row per hospital stay (Encounter identifier). State is derived from stay_events, cached here.
CREATE TABLE stays (
    stay_id INTEGER PRIMARY KEY AUTOINCREMENT,
    stay_key TEXT NOT NULL UNIQUE,    -- encounter identifier system|value
    patient_ref TEXT NOT NULL,        -- keyed hash of the person id, never the number itself
    status TEXT NOT NULL,
    state TEXT NOT NULL,              -- JSON snapshot of the folded state
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE stay_events (
    stay_id INTEGER NOT NULL REFERENCES stays(stay_id),
    inbound_seq INTEGER NOT NULL REFERENCES inbound(seq),
    event_code TEXT NOT NULL,
    event_time TEXT NOT NULL,
    resources TEXT NOT NULL,          -- JSON list of the event's FHIR resources
    PRIMARY KEY (stay_id, inbound_seq)
);

-- Every outbound message ever produced. A change or cancel is a new row in the same conversation.
CREATE TABLE outbound (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- the feed cursor
    message_id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    parent_id TEXT,
    notice_key TEXT NOT NULL,                -- which desired notice this realises
    stay_id INTEGER NOT NULL REFERENCES stays(stay_id),
    message_type TEXT NOT NULL,
    dispatch_status TEXT NOT NULL,           -- N | M | C
    recipient_her TEXT NOT NULL,
    recipient_kind TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL,                    -- ready | held | superseded
    created_at TEXT NOT NULL,
    source_inbound_seq INTEGER REFERENCES inbound(seq),
    payload BLOB NOT NULL                    -- the outbound FHIR message Bundle (JSON)
);
CREATE INDEX outbound_recipient ON outbound(recipient_her, seq);
CREATE INDEX outbound_stay ON outbound(stay_id, notice_key, seq);

CREATE TABLE directory (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);
