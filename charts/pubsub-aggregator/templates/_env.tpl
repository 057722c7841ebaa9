{{/*
The env entries of the variables the chart builds from several values, one define per variable,
named after it; shared/config.ts names them (`template`) and _env.generated.tpl calls them with
(dict "ctx" $ "app" <process>). Each renders nothing when the variable is not set.
*/}}

{{- define "pubsub-aggregator.env.DATABASE_URL" -}}
{{ include "pubsub-aggregator.databaseEnv" (dict "ctx" .ctx "role" (ternary "admin" "app" (eq .app "migrate"))) }}
{{- end }}

{{- define "pubsub-aggregator.env.NATS_URL" -}}
- name: NATS_URL
  value: {{ include "pubsub-aggregator.natsUrl" .ctx | quote }}
{{- end }}

{{/* Each process has its own NATS user; the dead-letters tool's keys in the values are deadLetters*. */}}
{{- define "pubsub-aggregator.env.NATS_USER" -}}
{{- include "pubsub-aggregator.natsCredentialEnv" (dict "ctx" .ctx "role" (ternary "deadLetters" .app (eq .app "dead-letters")) "variable" "NATS_USER") }}
{{- end }}

{{- define "pubsub-aggregator.env.NATS_PASSWORD" -}}
{{- include "pubsub-aggregator.natsCredentialEnv" (dict "ctx" .ctx "role" (ternary "deadLetters" .app (eq .app "dead-letters")) "variable" "NATS_PASSWORD") }}
{{- end }}

{{- define "pubsub-aggregator.env.STREAM_REPLICAS" -}}
- name: STREAM_REPLICAS
  value: {{ include "pubsub-aggregator.streamReplicas" .ctx | quote }}
{{- end }}

{{- define "pubsub-aggregator.env.STREAM_MAX_BYTES" -}}
- name: STREAM_MAX_BYTES
  value: {{ include "pubsub-aggregator.streamMaxBytes" .ctx | quote }}
{{- end }}

{{- define "pubsub-aggregator.env.AUTH_PUBLISH_TOKENS" -}}
{{- include "pubsub-aggregator.authTokensEnv" (dict "ctx" .ctx "variable" "AUTH_PUBLISH_TOKENS" "key" .ctx.Values.auth.publishTokensKey) }}
{{- end }}

{{- define "pubsub-aggregator.env.AUTH_READ_TOKENS" -}}
{{- include "pubsub-aggregator.authTokensEnv" (dict "ctx" .ctx "variable" "AUTH_READ_TOKENS" "key" .ctx.Values.auth.readTokensKey) }}
{{- end }}

{{/* The chart's off switch is rateLimit.enabled: unset, the app's default (0) means no limit. */}}
{{- define "pubsub-aggregator.env.RATE_LIMIT_MAX" -}}
{{- if .ctx.Values.rateLimit.enabled }}
- name: RATE_LIMIT_MAX
  value: {{ .ctx.Values.rateLimit.max | int64 | quote }}
{{- end }}
{{- end }}

{{- define "pubsub-aggregator.env.RATE_LIMIT_WINDOW_MS" -}}
{{- if .ctx.Values.rateLimit.enabled }}
- name: RATE_LIMIT_WINDOW_MS
  value: {{ .ctx.Values.rateLimit.windowMs | int64 | quote }}
{{- end }}
{{- end }}

{{/* Only the built-in PostgreSQL gets an app role from the migration; an external database brings its own (externalDatabase.appUrl). */}}
{{- define "pubsub-aggregator.env.APP_DB_USER" -}}
{{- if .ctx.Values.postgresql.enabled }}
- name: APP_DB_USER
  value: {{ .ctx.Values.postgresql.auth.appUsername | quote }}
{{- end }}
{{- end }}

{{- define "pubsub-aggregator.env.APP_DB_PASSWORD" -}}
{{- if .ctx.Values.postgresql.enabled }}
- name: APP_DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "pubsub-aggregator.postgresql.secretName" .ctx }}
      key: {{ .ctx.Values.postgresql.auth.appPasswordKey }}
{{- end }}
{{- end }}
