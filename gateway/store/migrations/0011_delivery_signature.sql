-- The gateway's CMS signature over an outbound message in one wire format, as first sent, and the
-- signing certificate that made it (SHA-256 fingerprint of its DER, hex). Retries, redeliveries
-- and other subscribers of the format send the same signature, also after a restart; a message is
-- signed again only when the signing certificate has changed. A table of its own: kept in the
-- delivery row, ≈ 1 KB of signature made every claim and outcome rewrite a row ten times larger.
CREATE TABLE outbound_signatures (
    outbound_seq INTEGER NOT NULL REFERENCES outbound(seq),
    format TEXT NOT NULL,             -- fhir+json | kith-xml
    signed_by TEXT NOT NULL,
    signature TEXT NOT NULL,          -- base64 DER, detached SignedData over the plaintext
    PRIMARY KEY (outbound_seq, format)
);
