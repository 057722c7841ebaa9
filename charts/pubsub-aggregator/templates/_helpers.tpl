{{/* ------------------------------------------------------------------------------------------
Names and labels
------------------------------------------------------------------------------------------- */}}

{{/* Chart name, overridable. */}}
{{- define "pubsub-aggregator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every resource name. 40 characters leave room for suffixes such as "-postgresql". */}}
{{- define "pubsub-aggregator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of a component's objects: <fullname>-<component>. Call with (dict "ctx" $ "component" "x"). */}}
{{- define "pubsub-aggregator.componentName" -}}
{{- printf "%s-%s" (include "pubsub-aggregator.fullname" .ctx) .component }}
{{- end }}

{{- define "pubsub-aggregator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels shared by all pods of the release (the default-deny policy selects on them). */}}
{{- define "pubsub-aggregator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pubsub-aggregator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "pubsub-aggregator.labels" -}}
helm.sh/chart: {{ include "pubsub-aggregator.chart" . }}
{{ include "pubsub-aggregator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: pubsub-aggregator
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component. Call with (dict "ctx" $ "component" "ingest"). */}}
{{- define "pubsub-aggregator.componentSelectorLabels" -}}
{{ include "pubsub-aggregator.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Labels of one component's objects. */}}
{{- define "pubsub-aggregator.componentLabels" -}}
{{ include "pubsub-aggregator.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "pubsub-aggregator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "pubsub-aggregator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* ------------------------------------------------------------------------------------------
Images
------------------------------------------------------------------------------------------- */}}

{{/* The application image: repository[:tag][@digest]; the tag defaults to the chart's appVersion. */}}
{{- define "pubsub-aggregator.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "pubsub-aggregator.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets -}}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* ------------------------------------------------------------------------------------------
NATS and PostgreSQL endpoints
------------------------------------------------------------------------------------------- */}}

{{- define "pubsub-aggregator.nats.fullname" -}}
{{- include "pubsub-aggregator.componentName" (dict "ctx" . "component" "nats") }}
{{- end }}

{{- define "pubsub-aggregator.nats.headless" -}}
{{- printf "%s-headless" (include "pubsub-aggregator.nats.fullname" .) }}
{{- end }}

{{/* NATS_URL: the built-in client Service, or externalNats.url. */}}
{{- define "pubsub-aggregator.natsUrl" -}}
{{- if .Values.nats.enabled }}
{{- printf "nats://%s.%s.svc:%d" (include "pubsub-aggregator.nats.fullname" .) .Release.Namespace (int .Values.nats.port) }}
{{- else }}
{{- required "externalNats.url is required when nats.enabled=false" .Values.externalNats.url }}
{{- end }}
{{- end }}

{{/* STREAM_REPLICAS: explicit, or the number of built-in NATS servers, or externalNats.streamReplicas. */}}
{{- define "pubsub-aggregator.streamReplicas" -}}
{{- $r := 0 }}
{{- if not (kindIs "invalid" .Values.config.stream.replicas) }}
{{- $r = int .Values.config.stream.replicas }}
{{- else if .Values.nats.enabled }}
{{- $r = int .Values.nats.replicas }}
{{- else }}
{{- $r = int .Values.externalNats.streamReplicas }}
{{- end }}
{{- if and .Values.nats.enabled (gt $r (int .Values.nats.replicas)) }}
{{- fail (printf "config.stream.replicas (%d) must not exceed nats.replicas (%d)" $r (int .Values.nats.replicas)) }}
{{- end }}
{{- $r }}
{{- end }}

{{- define "pubsub-aggregator.postgresql.fullname" -}}
{{- include "pubsub-aggregator.componentName" (dict "ctx" . "component" "postgresql") }}
{{- end }}

{{/* Secret holding the built-in PostgreSQL password. */}}
{{- define "pubsub-aggregator.postgresql.secretName" -}}
{{- default (include "pubsub-aggregator.postgresql.fullname" .) .Values.postgresql.auth.existingSecret }}
{{- end }}

{{/* Secret holding the external database URL. */}}
{{- define "pubsub-aggregator.externalDatabase.secretName" -}}
{{- default (include "pubsub-aggregator.componentName" (dict "ctx" . "component" "database")) .Values.externalDatabase.existingSecret }}
{{- end }}

{{/*
DATABASE_URL (and what it is built from) as EnvVar list entries.
Built-in PostgreSQL: the password comes from the Secret and Kubernetes expands $(POSTGRES_PASSWORD).
External: the whole URL comes from a Secret.
*/}}
{{- define "pubsub-aggregator.databaseEnv" -}}
{{- if .Values.postgresql.enabled -}}
- name: POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "pubsub-aggregator.postgresql.secretName" . }}
      key: {{ .Values.postgresql.auth.passwordKey }}
- name: DATABASE_URL
  value: {{ printf "postgresql://%s:$(POSTGRES_PASSWORD)@%s.%s.svc:%d/%s" .Values.postgresql.auth.username (include "pubsub-aggregator.postgresql.fullname" .) .Release.Namespace (int .Values.postgresql.port) .Values.postgresql.auth.database | quote }}
{{- else }}
{{- if and (not .Values.externalDatabase.existingSecret) (not .Values.externalDatabase.url) }}
{{- fail "externalDatabase.url or externalDatabase.existingSecret is required when postgresql.enabled=false" }}
{{- end -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "pubsub-aggregator.externalDatabase.secretName" . }}
      key: {{ .Values.externalDatabase.existingSecretKey }}
{{- end }}
{{- end }}

{{/* Environment shared by every application container (ingest, consumer, migration). */}}
{{- define "pubsub-aggregator.commonEnv" -}}
- name: LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
{{ include "pubsub-aggregator.databaseEnv" . }}
- name: DB_POOL_SIZE
  value: {{ .Values.config.dbPoolSize | quote }}
- name: NATS_URL
  value: {{ include "pubsub-aggregator.natsUrl" . | quote }}
{{- if and (not .Values.nats.enabled) .Values.externalNats.existingSecret }}
- name: NATS_USER
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalNats.existingSecret }}
      key: {{ .Values.externalNats.userKey }}
- name: NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalNats.existingSecret }}
      key: {{ .Values.externalNats.passwordKey }}
{{- end }}
- name: STREAM_NAME
  value: {{ .Values.config.stream.name | quote }}
- name: STREAM_REPLICAS
  value: {{ include "pubsub-aggregator.streamReplicas" . | quote }}
- name: STREAM_DUPLICATE_WINDOW_MS
  value: {{ .Values.config.stream.duplicateWindowMs | int64 | quote }}
- name: STREAM_MAX_AGE_MS
  value: {{ .Values.config.stream.maxAgeMs | int64 | quote }}
- name: STREAM_MAX_BYTES
  value: {{ .Values.config.stream.maxBytes | int64 | quote }}
- name: CONSUMER_NAME
  value: {{ .Values.config.consumer.name | quote }}
- name: CONSUMER_MAX_DELIVER
  value: {{ .Values.config.consumer.maxDeliver | int64 | quote }}
- name: CONSUMER_ACK_WAIT_MS
  value: {{ .Values.config.consumer.ackWaitMs | int64 | quote }}
- name: CONSUMER_MAX_ACK_PENDING
  value: {{ .Values.config.consumer.maxAckPending | int64 | quote }}
- name: STARTUP_TIMEOUT_MS
  value: {{ .Values.config.startupTimeoutMs | int64 | quote }}
- name: SHUTDOWN_TIMEOUT_MS
  value: {{ .Values.config.shutdownTimeoutMs | int64 | quote }}
- name: HOST
  value: {{ .Values.config.host | quote }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Secret with the bearer tokens. */}}
{{- define "pubsub-aggregator.auth.secretName" -}}
{{- default (include "pubsub-aggregator.componentName" (dict "ctx" . "component" "auth")) .Values.auth.existingSecret }}
{{- end }}

{{/* AUTH_* token variables (optional keys, so a Secret without read tokens still works). */}}
{{- define "pubsub-aggregator.authEnv" -}}
{{- if .Values.auth.enabled }}
- name: AUTH_PUBLISH_TOKENS
  valueFrom:
    secretKeyRef:
      name: {{ include "pubsub-aggregator.auth.secretName" . }}
      key: {{ .Values.auth.publishTokensKey }}
      optional: true
- name: AUTH_READ_TOKENS
  valueFrom:
    secretKeyRef:
      name: {{ include "pubsub-aggregator.auth.secretName" . }}
      key: {{ .Values.auth.readTokensKey }}
      optional: true
{{- end }}
{{- end }}

{{/* ------------------------------------------------------------------------------------------
Pod building blocks
------------------------------------------------------------------------------------------- */}}

{{/* terminationGracePeriodSeconds = drain time + preStop sleep + margin. Call with (dict "ctx" $ "preStop" N). */}}
{{- define "pubsub-aggregator.terminationGracePeriodSeconds" -}}
{{- $shutdownMs := int64 .ctx.Values.config.shutdownTimeoutMs }}
{{- $drain := div (add $shutdownMs 999) 1000 }}
{{- add $drain (int64 .preStop) (int64 .ctx.Values.config.terminationGraceMarginSeconds) }}
{{- end }}

{{/* Soft spreading of a component's pods. Call with (dict "ctx" $ "component" "ingest" "spread" .Values.ingest.topologySpread). */}}
{{- define "pubsub-aggregator.topologySpreadConstraints" -}}
{{- if .spread.enabled }}
topologySpreadConstraints:
  - maxSkew: {{ .spread.maxSkew }}
    topologyKey: {{ .spread.topologyKey }}
    whenUnsatisfiable: {{ .spread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "pubsub-aggregator.componentSelectorLabels" (dict "ctx" .ctx "component" .component) | nindent 8 }}
    matchLabelKeys:
      - pod-template-hash
{{- end }}
{{- end }}

{{/* prometheus.io scrape annotations for a port. Call with (dict "ctx" $ "port" N). */}}
{{- define "pubsub-aggregator.scrapeAnnotations" -}}
{{- if .ctx.Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{/*
Init container that waits for PostgreSQL ("postgres") or for the image's migrations ("migrations"),
using the app image's own node and pg driver. Call with (dict "ctx" $ "waitFor" "migrations").
*/}}
{{- define "pubsub-aggregator.waitContainer" -}}
- name: wait-for-{{ .waitFor }}
  image: {{ include "pubsub-aggregator.image" .ctx | quote }}
  imagePullPolicy: {{ .ctx.Values.image.pullPolicy }}
  command: ["node", "/scripts/wait-for.cjs"]
  env:
    - name: WAIT_FOR
      value: {{ .waitFor | quote }}
    - name: WAIT_TIMEOUT_SECONDS
      value: {{ .ctx.Values.migration.waitTimeoutSeconds | quote }}
    {{- include "pubsub-aggregator.databaseEnv" .ctx | nindent 4 }}
  securityContext:
    {{- toYaml .ctx.Values.containerSecurityContext | nindent 4 }}
  resources:
    requests:
      cpu: 10m
      memory: 64Mi
    limits:
      memory: 128Mi
  volumeMounts:
    - name: tmp
      mountPath: /tmp
    - name: scripts
      mountPath: /scripts
      readOnly: true
{{- end }}

{{/* Volume with files/*.cjs (ConfigMap <fullname>-scripts) for the wait and test containers. */}}
{{- define "pubsub-aggregator.scriptsVolume" -}}
- name: scripts
  configMap:
    name: {{ include "pubsub-aggregator.fullname" . }}-scripts
{{- end }}

{{/* The Job/Deployment name of the migration of this revision. */}}
{{- define "pubsub-aggregator.migration.jobName" -}}
{{- printf "%s-migrate-%d" (include "pubsub-aggregator.fullname" .) (int .Release.Revision) }}
{{- end }}
