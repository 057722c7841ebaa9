-- CreateTable
CREATE TABLE "processed_events" (
    "id" BIGSERIAL NOT NULL,
    "topic" VARCHAR(255) NOT NULL,
    "event_id" VARCHAR(255) NOT NULL,
    "timestamp" TIMESTAMPTZ(3) NOT NULL,
    "source" VARCHAR(255),
    "payload" JSONB,
    "stream_seq" BIGINT NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL,
    "persisted_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "processed_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "duplicate_events" (
    "stream_seq" BIGINT NOT NULL,
    "topic" VARCHAR(255) NOT NULL,
    "event_id" VARCHAR(255) NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL,
    "detected_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "duplicate_events_pkey" PRIMARY KEY ("stream_seq")
);

-- CreateTable
CREATE TABLE "topic_counters" (
    "topic" VARCHAR(255) NOT NULL,
    "unique_processed" BIGINT NOT NULL DEFAULT 0,
    "duplicates_dropped" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "topic_counters_pkey" PRIMARY KEY ("topic")
);

-- CreateIndex
CREATE UNIQUE INDEX "processed_events_stream_seq_key" ON "processed_events"("stream_seq");

-- CreateIndex
CREATE INDEX "processed_events_topic_stream_seq_idx" ON "processed_events"("topic", "stream_seq" DESC);

-- CreateIndex
CREATE INDEX "processed_events_persisted_at_idx" ON "processed_events"("persisted_at");

-- CreateIndex
CREATE UNIQUE INDEX "processed_events_topic_event_id_key" ON "processed_events"("topic", "event_id");

-- CreateIndex
CREATE INDEX "duplicate_events_topic_idx" ON "duplicate_events"("topic");

