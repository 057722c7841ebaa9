{{/*
Generated from shared/config.ts by `npm run gen:config`: do not edit; change the declarations there.
The environment of each process's container, one entry per variable it reads that the chart sets.
A variable built from several values comes from `pubsub-aggregator.env.<NAME>` (templates/_env.tpl),
called with (dict "ctx" $ "app" <process>). Call each with the root context.
*/}}

{{- define "pubsub-aggregator.appEnv.ingest" -}}
- name: LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
{{- with include "pubsub-aggregator.env.DATABASE_URL" (dict "ctx" $ "app" "ingest") }}
{{ . }}
{{- end }}
- name: DB_POOL_SIZE
  value: {{ .Values.config.dbPoolSize | int64 | quote }}
{{- with include "pubsub-aggregator.env.NATS_URL" (dict "ctx" $ "app" "ingest") }}
{{ . }}
{{- end }}
{{- with include "pubsub-aggregator.env.NATS_USER" (dict "ctx" $ "app" "ingest") }}
{{ . }}
{{- end }}
{{- with include "pubsub-aggregator.env.NATS_PASSWORD" (dict "ctx" $ "app" "ingest") }}
{{ . }}
{{- end }}
- name: STREAM_NAME
  value: {{ .Values.config.stream.name | quote }}
- name: CONSUMER_NAME
  value: {{ .Values.config.consumer.name | quote }}
- name: STARTUP_TIMEOUT_MS
  value: {{ .Values.config.startupTimeoutMs | int64 | quote }}
- name: SHUTDOWN_TIMEOUT_MS
  value: {{ .Values.config.shutdownTimeoutMs | int64 | quote }}
- name: HOST
  value: {{ .Values.config.host | quote }}
- name: PORT
  value: {{ .Values.ingest.port | int64 | quote }}
- name: METRICS_PORT
  value: {{ .Values.ingest.metricsPort | int64 | quote }}
- name: METRICS_ON_API_PORT
  value: {{ .Values.ingest.metricsOnApiPort | quote }}
- name: MAX_BATCH_SIZE
  value: {{ .Values.ingest.maxBatchSize | int64 | quote }}
- name: MAX_EVENT_BYTES
  value: {{ .Values.ingest.maxEventBytes | int64 | quote }}
- name: BODY_LIMIT_BYTES
  value: {{ .Values.ingest.bodyLimitBytes | int64 | quote }}
- name: BODY_BUDGET_BYTES
  value: {{ .Values.ingest.bodyBudgetBytes | int64 | quote }}
- name: REQUEST_TIMEOUT_MS
  value: {{ .Values.ingest.requestTimeoutMs | int64 | quote }}
- name: PUBLISH_TIMEOUT_MS
  value: {{ .Values.ingest.publishTimeoutMs | int64 | quote }}
- name: MAX_PUBLISH_IN_FLIGHT
  value: {{ .Values.ingest.maxPublishInFlight | int64 | quote }}
{{- with include "pubsub-aggregator.env.AUTH_PUBLISH_TOKENS" (dict "ctx" $ "app" "ingest") }}
{{ . }}
{{- end }}
{{- with include "pubsub-aggregator.env.AUTH_READ_TOKENS" (dict "ctx" $ "app" "ingest") }}
{{ . }}
{{- end }}
{{- with include "pubsub-aggregator.env.RATE_LIMIT_MAX" (dict "ctx" $ "app" "ingest") }}
{{ . }}
{{- end }}
{{- with include "pubsub-aggregator.env.RATE_LIMIT_WINDOW_MS" (dict "ctx" $ "app" "ingest") }}
{{ . }}
{{- end }}
- name: MAX_TOPICS
  value: {{ .Values.ingest.maxTopics | int64 | quote }}
- name: STATS_TOP_TOPICS
  value: {{ .Values.ingest.statsTopTopics | int64 | quote }}
- name: EVENTS_MAX_BYTES
  value: {{ .Values.ingest.eventsMaxBytes | int64 | quote }}
- name: EVENTS_MAX_CONCURRENT
  value: {{ .Values.ingest.eventsMaxConcurrent | int64 | quote }}
- name: EVENTS_MAX_CONCURRENT_PER_CLIENT
  value: {{ .Values.ingest.eventsMaxConcurrentPerClient | int64 | quote }}
- name: EVENTS_WRITE_TIMEOUT_MS
  value: {{ .Values.ingest.eventsWriteTimeoutMs | int64 | quote }}
- name: TRUST_PROXY
  value: {{ .Values.ingest.trustProxy | quote }}
{{- end }}

{{- define "pubsub-aggregator.appEnv.consumer" -}}
- name: LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
{{- with include "pubsub-aggregator.env.DATABASE_URL" (dict "ctx" $ "app" "consumer") }}
{{ . }}
{{- end }}
- name: DB_POOL_SIZE
  value: {{ .Values.config.dbPoolSize | int64 | quote }}
{{- with include "pubsub-aggregator.env.NATS_URL" (dict "ctx" $ "app" "consumer") }}
{{ . }}
{{- end }}
{{- with include "pubsub-aggregator.env.NATS_USER" (dict "ctx" $ "app" "consumer") }}
{{ . }}
{{- end }}
{{- with include "pubsub-aggregator.env.NATS_PASSWORD" (dict "ctx" $ "app" "consumer") }}
{{ . }}
{{- end }}
- name: STREAM_NAME
  value: {{ .Values.config.stream.name | quote }}
- name: CONSUMER_NAME
  value: {{ .Values.config.consumer.name | quote }}
- name: STARTUP_TIMEOUT_MS
  value: {{ .Values.config.startupTimeoutMs | int64 | quote }}
- name: SHUTDOWN_TIMEOUT_MS
  value: {{ .Values.config.shutdownTimeoutMs | int64 | quote }}
- name: HOST
  value: {{ .Values.config.host | quote }}
- name: PORT
  value: {{ .Values.consumer.port | int64 | quote }}
{{- with include "pubsub-aggregator.env.STREAM_REPLICAS" (dict "ctx" $ "app" "consumer") }}
{{ . }}
{{- end }}
- name: STREAM_DUPLICATE_WINDOW_MS
  value: {{ .Values.config.stream.duplicateWindowMs | int64 | quote }}
{{- with include "pubsub-aggregator.env.STREAM_MAX_BYTES" (dict "ctx" $ "app" "consumer") }}
{{ . }}
{{- end }}
- name: DLQ_MAX_BYTES
  value: {{ .Values.config.stream.deadLetterMaxBytes | int64 | quote }}
- name: CONSUMER_MAX_DELIVER
  value: {{ .Values.config.consumer.maxDeliver | int64 | quote }}
- name: CONSUMER_ACK_WAIT_MS
  value: {{ .Values.config.consumer.ackWaitMs | int64 | quote }}
- name: CONSUMER_MAX_ACK_PENDING
  value: {{ .Values.config.consumer.maxAckPending | int64 | quote }}
- name: BATCH_SIZE
  value: {{ .Values.consumer.batchSize | int64 | quote }}
- name: CONSUMER_CONCURRENCY
  value: {{ .Values.consumer.concurrency | int64 | quote }}
- name: BATCH_LINGER_MS
  value: {{ .Values.consumer.batchLingerMs | int64 | quote }}
- name: CONSUMER_RETRY_DELAY_MS
  value: {{ .Values.consumer.retryDelayMs | int64 | quote }}
- name: CONSUMER_RETRY_DELAY_MAX_MS
  value: {{ .Values.consumer.retryDelayMaxMs | int64 | quote }}
- name: EVENTS_RETENTION_MS
  value: {{ .Values.consumer.retentionMs | int64 | quote }}
- name: RETENTION_PURGE_INTERVAL_MS
  value: {{ .Values.consumer.purgeIntervalMs | int64 | quote }}
- name: RETENTION_BATCH_ROWS
  value: {{ .Values.consumer.purgeBatchRows | int64 | quote }}
- name: RETENTION_BATCH_PAUSE_MS
  value: {{ .Values.consumer.purgeBatchPauseMs | int64 | quote }}
- name: PERSIST_MODE
  value: {{ .Values.consumer.persistMode | quote }}
{{- end }}

{{- define "pubsub-aggregator.appEnv.migrate" -}}
{{- with include "pubsub-aggregator.env.DATABASE_URL" (dict "ctx" $ "app" "migrate") }}
{{ . }}
{{- end }}
{{- with include "pubsub-aggregator.env.APP_DB_USER" (dict "ctx" $ "app" "migrate") }}
{{ . }}
{{- end }}
{{- with include "pubsub-aggregator.env.APP_DB_PASSWORD" (dict "ctx" $ "app" "migrate") }}
{{ . }}
{{- end }}
{{- end }}

{{- define "pubsub-aggregator.appEnv.dead-letters" -}}
- name: LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
{{- with include "pubsub-aggregator.env.NATS_URL" (dict "ctx" $ "app" "dead-letters") }}
{{ . }}
{{- end }}
{{- with include "pubsub-aggregator.env.NATS_USER" (dict "ctx" $ "app" "dead-letters") }}
{{ . }}
{{- end }}
{{- with include "pubsub-aggregator.env.NATS_PASSWORD" (dict "ctx" $ "app" "dead-letters") }}
{{ . }}
{{- end }}
- name: STREAM_NAME
  value: {{ .Values.config.stream.name | quote }}
- name: PUBLISH_TIMEOUT_MS
  value: {{ .Values.deadLetters.job.publishTimeoutMs | int64 | quote }}
{{- end }}
