{{/* nats-server configuration of the built-in NATS. */}}
{{- define "pubsub-aggregator.nats.config" -}}
{{- $fullname := include "pubsub-aggregator.nats.fullname" . }}
{{- $headless := include "pubsub-aggregator.nats.headless" . }}
{{- $replicas := int .Values.nats.replicas }}
# $SERVER_NAME is the pod name: stable across restarts, which JetStream requires.
server_name: $SERVER_NAME
port: {{ .Values.nats.port }}
http_port: {{ .Values.nats.monitorPort }}
pid_file: /var/run/nats/nats.pid
lame_duck_duration: {{ .Values.nats.lameDuckDurationSeconds }}s
lame_duck_grace_period: 10s
jetstream {
  store_dir: /data
  max_memory_store: {{ .Values.nats.jetstream.memoryStore.maxSize }}
  max_file_store: {{ .Values.nats.jetstream.fileStore.maxSize }}
}
{{- if gt $replicas 1 }}
cluster {
  name: {{ $fullname }}
  port: {{ .Values.nats.clusterPort }}
  no_advertise: true
  routes: [
    {{- range $i := until $replicas }}
    nats://{{ $fullname }}-{{ $i }}.{{ $headless }}.{{ $.Release.Namespace }}.svc:{{ $.Values.nats.clusterPort }}
    {{- end }}
  ]
}
{{- end }}
{{- end }}
