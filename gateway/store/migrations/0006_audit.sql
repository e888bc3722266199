-- Every read and export of patient data: who (client id, organisation), when, what, through which endpoint.
-- Append-only: the triggers refuse UPDATE and DELETE, whoever asks.
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    client_id TEXT NOT NULL,
    organisation TEXT NOT NULL,       -- the token's organisation claim values
    action TEXT NOT NULL,             -- the endpoint: "GET /messages/{message_id}", or "webhook" for a push
    subject_kind TEXT NOT NULL,       -- message | stay | recipient | subscription
    subject TEXT NOT NULL,            -- the message id, stay id, recipient HER-id or subscription id
    detail TEXT                       -- e.g. how many messages a feed page listed
);
CREATE INDEX audit_subject ON audit(subject_kind, subject, seq);
CREATE INDEX audit_client ON audit(client_id, seq);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
