-- A subscriber's certificate (PEM): when present, payloads are encrypted to it (CMS EnvelopedData).
ALTER TABLE subscriptions ADD COLUMN certificate TEXT;
