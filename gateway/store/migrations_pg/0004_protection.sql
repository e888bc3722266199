ALTER TABLE subscriptions ADD COLUMN certificate TEXT;
