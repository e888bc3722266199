-- A delivery being sent is claimed by one instance until its outcome is recorded or the lease
-- runs out (the instance died): several instances on one database never send it twice at once.
ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE deliveries ADD COLUMN lease_until TEXT;
