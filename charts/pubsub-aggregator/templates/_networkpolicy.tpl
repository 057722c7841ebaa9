{{/* Egress rule to PostgreSQL (built-in pods, or the external database). Call with (dict "ctx" $ "pgPort" N). */}}
{{- define "pubsub-aggregator.networkPolicy.postgresEgress" -}}
- ports:
    - port: {{ .pgPort }}
      protocol: TCP
  {{- if .ctx.Values.postgresql.enabled }}
  to:
    - podSelector:
        matchLabels:
          {{- include "pubsub-aggregator.componentSelectorLabels" (dict "ctx" .ctx "component" "postgresql") | nindent 10 }}
  {{- else }}
  {{- with .ctx.Values.networkPolicy.externalDatabaseTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- end }}
{{- end }}

{{/* Egress rules of ingest and consumer: NATS client port and PostgreSQL. */}}
{{- define "pubsub-aggregator.networkPolicy.backendEgress" -}}
- ports:
    - port: {{ .natsPort }}
      protocol: TCP
  {{- if .ctx.Values.nats.enabled }}
  to:
    - podSelector:
        matchLabels:
          {{- include "pubsub-aggregator.componentSelectorLabels" (dict "ctx" .ctx "component" "nats") | nindent 10 }}
  {{- else }}
  {{- with .ctx.Values.networkPolicy.externalNatsTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- end }}
{{ include "pubsub-aggregator.networkPolicy.postgresEgress" (dict "ctx" .ctx "pgPort" .pgPort) }}
{{- end }}
