-- Event timestamps keep microseconds (ingest truncates finer fractions to them). Widening the
-- precision keeps every stored value as it is.
ALTER TABLE "processed_events" ALTER COLUMN "timestamp" SET DATA TYPE TIMESTAMPTZ(6);
