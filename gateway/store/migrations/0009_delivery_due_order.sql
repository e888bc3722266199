-- Due deliveries are claimed in (next_attempt_at, outbound_seq) order. With only next_attempt_at
-- in the index, every claim sorted all rows due at the same moment (a redelivery of 10,000 made
-- each claim read all 10,000); with the order in the index a claim stops at its limit.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries(status, next_attempt_at, outbound_seq);
