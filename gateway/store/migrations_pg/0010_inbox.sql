-- HL7 v2 messages acknowledged at storage (accept acknowledgement, docs/HL7V2-MAPPING.md) wait
-- in `inbound` with status 'accepted' until the inbox drain processes them; `outcome` keeps the
-- application acknowledgement that processing produced (`response` stays the ACK that was sent).
ALTER TABLE inbound ADD COLUMN outcome BYTEA;
CREATE INDEX inbound_accepted ON inbound(seq) WHERE status = 'accepted';
