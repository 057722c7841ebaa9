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
{{- if .Values.nats.auth.enabled }}
# One user per role; passwords come from the environment (the Secret), never from this ConfigMap.
authorization {
  users: [
    {{- range $role := list "ingest" "consumer" "deadLetters" }}
    {
      user: {{ kebabcase $role }}
      password: {{ printf "$NATS_%s_PASSWORD" (upper (snakecase $role)) }}
      permissions: {
        {{- include "pubsub-aggregator.nats.permissions" (dict "ctx" $ "role" $role) | nindent 8 }}
      }
    }
    {{- end }}
    # Operators (nats CLI through a port-forward): everything.
    { user: admin, password: $NATS_ADMIN_PASSWORD }
  ]
}
{{- end }}
{{- if gt $replicas 1 }}
cluster {
  name: {{ $fullname }}
  port: {{ .Values.nats.clusterPort }}
  no_advertise: true
  {{- if eq (include "pubsub-aggregator.nats.routeAuth" .) "true" }}
  # Routes log in as user "route"; a server without the password is refused. The password, and the
  # route URLs that carry it, come from the environment (the Secret), never from this ConfigMap.
  authorization {
    user: route
    password: $NATS_ROUTE_PASSWORD
  }
  routes: [
    {{- range $i := until $replicas }}
    $NATS_ROUTE_{{ $i }}
    {{- end }}
  ]
  {{- else }}
  routes: [
    {{- range $i := until $replicas }}
    {{ include "pubsub-aggregator.nats.routeUrl" (dict "ctx" $ "ordinal" $i) }}
    {{- end }}
  ]
  {{- end }}
}
{{- end }}
{{- end }}

{{/* "true" when the cluster routes need credentials: auth on, nats.auth.routeAuth, more than one server. */}}
{{- define "pubsub-aggregator.nats.routeAuth" -}}
{{- $a := .Values.nats.auth }}
{{- and $a.enabled $a.routeAuth (gt (int .Values.nats.replicas) 1) | toString }}
{{- end }}

{{/*
Route URL of one server (its stable pod DNS name). Call with (dict "ctx" $ "ordinal" N) for the plain
URL, or add "userinfo" "route:$(NATS_ROUTE_PASSWORD)" for the one Kubernetes completes in the env.
*/}}
{{- define "pubsub-aggregator.nats.routeUrl" -}}
{{- $ctx := .ctx }}
{{- $host := printf "%s-%d.%s.%s.svc" (include "pubsub-aggregator.nats.fullname" $ctx) (int .ordinal) (include "pubsub-aggregator.nats.headless" $ctx) $ctx.Release.Namespace }}
{{- printf "nats://%s%s:%d" (ternary (printf "%s@" .userinfo) "" (not (empty .userinfo))) $host (int $ctx.Values.nats.clusterPort) }}
{{- end }}

{{/*
Environment of the route credentials (container env entries): the password from the Secret, then one
URL per server with it inside. Kubernetes expands $(NATS_ROUTE_PASSWORD) in a later entry's value, so
the password reaches nats.conf's routes without being written into the ConfigMap or the pod spec.
*/}}
{{- define "pubsub-aggregator.nats.routeEnv" -}}
{{- if eq (include "pubsub-aggregator.nats.routeAuth" .) "true" }}
- name: NATS_ROUTE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "pubsub-aggregator.nats.secretName" . }}
      key: {{ .Values.nats.auth.routePasswordKey }}
{{- range $i := until (int .Values.nats.replicas) }}
- name: NATS_ROUTE_{{ $i }}
  value: {{ include "pubsub-aggregator.nats.routeUrl" (dict "ctx" $ "ordinal" $i "userinfo" "route:$(NATS_ROUTE_PASSWORD)") | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
What each app's NATS user may do: exactly what the process does today, nothing else.
  ingest    publish events.<topic> and its broker-duplicate counters (JetStream answers on _INBOX);
            read the state /readyz and /stats report: stream info of the event and dead-letter
            streams, the durable consumer's info, the counters' last values (direct get).
  consumer  own the topology: create/update the three streams and its durable consumer (never
            delete or purge), and read their state for its gauges (stream info); pull from the durable (replies on its own inbox prefix, so ingest's user cannot read them),
            ack, and copy undeliverable messages to the dead-letter subjects.
  deadLetters (user dead-letters, the operator's tool apps/dead-letters): read the dead-letter
            stream message by message (stream info, message get), delete one message or purge it
            (all, or one topic's subject), and republish events to events.<topic> (JetStream answers
            on its own inbox prefix). No consumer is created, and no other stream can be touched.
None may delete a stream, publish to another subject, or read another's replies; only
dead-letters may delete or purge messages, and only in the dead-letter stream.
Call with (dict "ctx" $ "role" "ingest"); renders the body of a permissions block.
*/}}
{{- define "pubsub-aggregator.nats.permissions" -}}
{{- $s := .ctx.Values.config.stream.name }}
{{- $c := .ctx.Values.config.consumer.name }}
{{- $streams := list $s (printf "%s_COUNTERS" $s) (printf "%s_DLQ" $s) }}
{{- if eq .role "ingest" -}}
publish: {
  allow: [
    "events.>",
    "counters.{{ $s }}.>",
    "$JS.API.INFO",
    "$JS.API.STREAM.INFO.{{ $s }}",
    "$JS.API.STREAM.INFO.{{ $s }}_DLQ",
    "$JS.API.CONSUMER.INFO.{{ $s }}.{{ $c }}",
    "$JS.API.DIRECT.GET.{{ $s }}_COUNTERS",
    "$JS.API.DIRECT.GET.{{ $s }}_COUNTERS.>"
  ]
}
subscribe: { allow: ["_INBOX.>"] }
{{- else if eq .role "consumer" -}}
publish: {
  allow: [
    "$JS.API.INFO",
    {{- range $streams }}
    "$JS.API.STREAM.INFO.{{ . }}",
    "$JS.API.STREAM.CREATE.{{ . }}",
    "$JS.API.STREAM.UPDATE.{{ . }}",
    {{- end }}
    "$JS.API.CONSUMER.INFO.{{ $s }}.{{ $c }}",
    "$JS.API.CONSUMER.CREATE.{{ $s }}.{{ $c }}.>",
    "$JS.API.CONSUMER.MSG.NEXT.{{ $s }}.{{ $c }}",
    "$JS.ACK.{{ $s }}.{{ $c }}.>",
    "dlq.{{ $s }}.>"
  ]
}
subscribe: { allow: ["_INBOX_consumer.>"] }
{{- else if eq .role "deadLetters" -}}
publish: {
  allow: [
    "events.>",
    "$JS.API.INFO",
    "$JS.API.STREAM.INFO.{{ $s }}_DLQ",
    "$JS.API.STREAM.MSG.GET.{{ $s }}_DLQ",
    "$JS.API.STREAM.MSG.DELETE.{{ $s }}_DLQ",
    "$JS.API.STREAM.PURGE.{{ $s }}_DLQ"
  ]
}
subscribe: { allow: ["_INBOX_deadletters.>"] }
{{- else }}
{{- fail (printf "no NATS permissions for role %q" .role) }}
{{- end }}
{{- end }}

{{/*
Spread of the NATS servers over nodes (one entry of topologySpreadConstraints). ScheduleAnyway lets
two servers share a node when the scheduler sees no better place, and losing that node then loses
JetStream's quorum; DoNotSchedule with minDomains = replicas leaves a server Pending instead until a
node of its own exists.
*/}}
{{- define "pubsub-aggregator.nats.topologySpread" -}}
{{- $s := .Values.nats.spread }}
- maxSkew: 1
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: {{ $s.whenUnsatisfiable }}
  {{- with $s.minDomains }}
  minDomains: {{ . }}
  {{- end }}
  labelSelector:
    matchLabels:
      {{- include "pubsub-aggregator.componentSelectorLabels" (dict "ctx" . "component" "nats") | nindent 6 }}
{{- end }}
