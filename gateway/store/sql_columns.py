"""Column lists the SQL modules share (gateway/store/sql*.py), written once."""

STAY_COLS = "stay_id, stay_key, patient_ref, status, state, created_at, updated_at"
OUTBOUND_COLS = (
    "seq, message_id, conversation_id, parent_id, notice_key, stay_id, message_type, "
    "dispatch_status, recipient_her, recipient_kind, fingerprint, status, created_at, "
    "source_inbound_seq"
)
