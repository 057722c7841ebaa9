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

{{/* Labels of a component's pod template: its selector labels plus commonLabels (never in selectors,
which are immutable). Call with (dict "ctx" $ "component" "ingest"). */}}
{{- define "pubsub-aggregator.podLabels" -}}
{{ include "pubsub-aggregator.componentSelectorLabels" . }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
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

{{/*
The migration Job's image (the Dockerfile's `migrate` target): migration.image, whose empty
repository and tag follow image.repository + "-migrate" and image.tag, so one --set image.tag=...
moves both images of a build.
*/}}
{{- define "pubsub-aggregator.migrationImage" -}}
{{- $m := .Values.migration.image }}
{{- $repository := default (printf "%s-migrate" .Values.image.repository) $m.repository }}
{{- $tag := default (default .Chart.AppVersion .Values.image.tag) $m.tag }}
{{- if $m.digest }}
{{- printf "%s:%s@%s" $repository $tag $m.digest }}
{{- else }}
{{- printf "%s:%s" $repository $tag }}
{{- end }}
{{- end }}

{{/* A third-party image: repository:tag, or repository:tag@digest when a digest pins it. Call with .Values.nats.image. */}}
{{- define "pubsub-aggregator.pinnedImage" -}}
{{- if .digest }}
{{- printf "%s:%s@%s" .repository .tag .digest }}
{{- else }}
{{- printf "%s:%s" .repository .tag }}
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
DATABASE_URL (and what it is built from) as EnvVar list entries, for a role:
  "app"   ingest, consumer and their wait-for-migrations: the non-superuser role the migration creates
          (built-in PostgreSQL), or externalDatabase's app URL;
  "admin" the migration Job: the superuser that owns the schema (or externalDatabase's URL).
Built-in PostgreSQL: the password comes from the Secret and Kubernetes expands $(...).
External: the whole URL comes from a Secret.
Call with (dict "ctx" $ "role" "app").
*/}}
{{- define "pubsub-aggregator.databaseEnv" -}}
{{- $v := .ctx.Values }}
{{- if $v.postgresql.enabled -}}
{{- $admin := eq .role "admin" }}
{{- $user := ternary $v.postgresql.auth.username $v.postgresql.auth.appUsername $admin }}
{{- $var := ternary "POSTGRES_PASSWORD" "APP_DB_PASSWORD" $admin -}}
- name: {{ $var }}
  valueFrom:
    secretKeyRef:
      name: {{ include "pubsub-aggregator.postgresql.secretName" .ctx }}
      key: {{ ternary $v.postgresql.auth.passwordKey $v.postgresql.auth.appPasswordKey $admin }}
- name: DATABASE_URL
  value: {{ printf "postgresql://%s:$(%s)@%s.%s.svc:%d/%s" $user $var (include "pubsub-aggregator.postgresql.fullname" .ctx) .ctx.Release.Namespace (int $v.postgresql.port) $v.postgresql.auth.database | quote }}
{{- else }}
{{- if and (not $v.externalDatabase.existingSecret) (not $v.externalDatabase.url) }}
{{- fail "externalDatabase.url or externalDatabase.existingSecret is required when postgresql.enabled=false" }}
{{- end -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "pubsub-aggregator.externalDatabase.secretName" .ctx }}
      key: {{ include "pubsub-aggregator.externalDatabase.key" . }}
{{- end }}
{{- end }}

{{/* Key of the external database URL for a role in its Secret. Call with (dict "ctx" $ "role" "app"). */}}
{{- define "pubsub-aggregator.externalDatabase.key" -}}
{{- $e := .ctx.Values.externalDatabase }}
{{- if eq .role "admin" }}{{ $e.existingSecretKey }}
{{- else if $e.existingSecret }}{{ default $e.existingSecretKey $e.appSecretKey }}
{{- else if $e.appUrl }}app-database-url
{{- else }}{{ $e.existingSecretKey }}
{{- end }}
{{- end }}

{{/* Secret with the built-in NATS users' passwords. */}}
{{- define "pubsub-aggregator.nats.secretName" -}}
{{- default (printf "%s-users" (include "pubsub-aggregator.nats.fullname" .)) .Values.nats.auth.existingSecret }}
{{- end }}

{{/*
NATS_USER or NATS_PASSWORD ("variable") of a role ("ingest", "consumer" or "deadLetters"): the built-in
NATS's user of that name (dead-letters), or the external NATS's credentials from
externalNats.existingSecret. Nothing when neither applies.
Call with (dict "ctx" $ "role" "ingest" "variable" "NATS_USER").
*/}}
{{- define "pubsub-aggregator.natsCredentialEnv" -}}
{{- $v := .ctx.Values }}
{{- $user := eq .variable "NATS_USER" }}
{{- if and $v.nats.enabled $v.nats.auth.enabled }}
- name: {{ .variable }}
  {{- if $user }}
  value: {{ kebabcase .role | quote }}
  {{- else }}
  valueFrom:
    secretKeyRef:
      name: {{ include "pubsub-aggregator.nats.secretName" .ctx }}
      key: {{ index $v.nats.auth (printf "%sPasswordKey" .role) }}
  {{- end }}
{{- else if and (not $v.nats.enabled) $v.externalNats.existingSecret }}
- name: {{ .variable }}
  valueFrom:
    secretKeyRef:
      name: {{ $v.externalNats.existingSecret }}
      key: {{ index $v.externalNats (printf "%s%s" .role (ternary "UserKey" "PasswordKey" $user)) }}
{{- end }}
{{- end }}

{{/* Secret with the bearer tokens. */}}
{{- define "pubsub-aggregator.auth.secretName" -}}
{{- default (include "pubsub-aggregator.componentName" (dict "ctx" . "component" "auth")) .Values.auth.existingSecret }}
{{- end }}

{{/*
The token the k6 Job sends for both /publish and /stats: the first token allowed for every scope
that has tokens (a scope without tokens is open). Empty when no single token can do both.
*/}}
{{- define "pubsub-aggregator.auth.loadTestToken" -}}
{{- $pub := .Values.auth.publishTokens }}
{{- $read := .Values.auth.readTokens }}
{{- $found := "" }}
{{- range (concat $pub $read) }}
{{- if and (not $found) (or (not $pub) (has . $pub)) (or (not $read) (has . $read)) }}
{{- $found = . }}
{{- end }}
{{- end }}
{{- $found }}
{{- end }}

{{/*
One token variable from the auth Secret; the key is optional: a key the Secret lacks leaves that
scope open. Call with (dict "ctx" $ "variable" "AUTH_READ_TOKENS" "key" .Values.auth.readTokensKey).
*/}}
{{- define "pubsub-aggregator.authTokensEnv" -}}
{{- if .ctx.Values.auth.enabled }}
- name: {{ .variable }}
  valueFrom:
    secretKeyRef:
      name: {{ include "pubsub-aggregator.auth.secretName" .ctx }}
      key: {{ .key }}
      optional: true
{{- end }}
{{- end }}

{{/* Both token variables, for the clients the chart runs (helm test). */}}
{{- define "pubsub-aggregator.authEnv" -}}
{{- include "pubsub-aggregator.env.AUTH_PUBLISH_TOKENS" (dict "ctx" . "app" "ingest") }}
{{- include "pubsub-aggregator.env.AUTH_READ_TOKENS" (dict "ctx" . "app" "ingest") }}
{{- end }}

{{/*
Checksum annotations that roll a workload's pods when a Secret it reads through env changes: env
from a Secret is read only at container start. Computed from the values the chart builds those
Secrets from (generated passwords are kept across upgrades, so they never change it); a Secret you
manage yourself (existingSecret) contributes only its name: restart the pods after editing it.
Call with (dict "ctx" $ "auth" true) for ingest (bearer tokens), without for the others.
*/}}
{{- define "pubsub-aggregator.secretChecksums" -}}
{{- $v := .ctx.Values -}}
checksum/credentials: {{ list $v.postgresql.auth $v.externalDatabase $v.nats.auth $v.externalNats.existingSecret | toJson | sha256sum }}
{{- if and .auth $v.auth.enabled }}
checksum/auth: {{ list $v.auth.existingSecret $v.auth.publishTokens $v.auth.readTokens | toJson | sha256sum }}
{{- end }}
{{- end }}

{{/*
A generated Secret value: the explicit one if given, else the one the live Secret already holds
(`lookup`, on install/upgrade), else a new random one. `helm template` and other renderers without
a cluster cannot look up: they get a new value on every render (use existingSecret there).
Call with (dict "ctx" $ "secret" name "key" key "value" explicit).
*/}}
{{- define "pubsub-aggregator.secretValue" -}}
{{- if .value }}
{{- .value }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .secret }}
{{- if and $existing $existing.data (hasKey $existing.data .key) }}
{{- index $existing.data .key | b64dec }}
{{- else }}
{{- /* A letter first: nats-server parses an environment variable's value as a config value, and a
password such as 3e4f... is read as the number 3e4 followed by garbage (the server does not start). */}}
{{- printf "%s%s" (randAlpha 1) (randAlphaNum 31) }}
{{- end }}
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
    {{- include "pubsub-aggregator.databaseEnv" (dict "ctx" .ctx "role" (ternary "admin" "app" (eq .waitFor "postgres"))) | nindent 4 }}
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

{{/* ------------------------------------------------------------------------------------------
Sizes
------------------------------------------------------------------------------------------- */}}

{{/* Bytes in a Kubernetes quantity ("10Gi", "8G", "512Mi", 1e9), as an integer string. */}}
{{- define "pubsub-aggregator.bytes.k8s" -}}
{{- $q := toString . }}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" $q }}
{{- $unit := trimPrefix $num $q }}
{{- $mult := dict "" 1.0 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 }}
{{- if not (hasKey $mult $unit) }}{{ fail (printf "cannot read the size %q" $q) }}{{ end }}
{{- mulf (float64 $num) (index $mult $unit) | floor | int64 }}
{{- end }}

{{/* Bytes in a nats-server size ("8Gi", "8G", "8GB"; nats-server/conf: k = 1000, kb/ki/kib = 1024, ...). */}}
{{- define "pubsub-aggregator.bytes.nats" -}}
{{- $q := toString . }}
{{- $num := regexFind "^[0-9]+" $q }}
{{- $unit := lower (trimPrefix $num $q) }}
{{- $mult := dict "" 1.0 "k" 1e3 "m" 1e6 "g" 1e9 "t" 1e12 "kb" 1024.0 "ki" 1024.0 "kib" 1024.0 "mb" 1048576.0 "mi" 1048576.0 "mib" 1048576.0 "gb" 1073741824.0 "gi" 1073741824.0 "gib" 1073741824.0 "tb" 1099511627776.0 "ti" 1099511627776.0 "tib" 1099511627776.0 }}
{{- if not (hasKey $mult $unit) }}{{ fail (printf "cannot read the NATS size %q" $q) }}{{ end }}
{{- mulf (float64 $num) (index $mult $unit) | floor | int64 }}
{{- end }}

{{/*
What the built-in NATS's file store keeps free of the two reserved streams (events, dead letters):
max(64 MiB, 10% of nats.jetstream.fileStore.maxSize). It holds what nats-server does not reserve: the
counter stream and the store's own indexes. Without it the reservations could take the whole store
and the first counter write would fail.
*/}}
{{- define "pubsub-aggregator.fileStoreHeadroom" -}}
{{- $fileStore := include "pubsub-aggregator.bytes.nats" .Values.nats.jetstream.fileStore.maxSize | int64 }}
{{- max 67108864 (div $fileStore 10) }}
{{- end }}

{{/*
STREAM_MAX_BYTES. nats-server reserves a stream's max_bytes out of max_file_store when it creates
the stream and refuses one that does not fit, which would keep the consumer from starting: so with
the built-in NATS the cap is derived to fit (null), or an explicit one is checked, against
fileStore.maxSize - deadLetterMaxBytes - headroom. An external NATS's file store is unknown here,
so the cap must be given.
*/}}
{{- define "pubsub-aggregator.streamMaxBytes" -}}
{{- $s := .Values.config.stream }}
{{- $explicit := not (kindIs "invalid" $s.maxBytes) }}
{{- if .Values.nats.enabled }}
{{- $fileStore := include "pubsub-aggregator.bytes.nats" .Values.nats.jetstream.fileStore.maxSize | int64 }}
{{- $dlq := int64 $s.deadLetterMaxBytes }}
{{- $headroom := include "pubsub-aggregator.fileStoreHeadroom" . | int64 }}
{{- $fits := sub (sub $fileStore $dlq) $headroom }}
{{- if not $explicit }}
{{- if lt $fits 1048576 }}
{{- fail (printf "config.stream.maxBytes derived from nats.jetstream.fileStore.maxSize (%s = %d B) - config.stream.deadLetterMaxBytes (%d) - headroom (%d) is %d B, below 1 MiB: enlarge the file store or lower deadLetterMaxBytes" .Values.nats.jetstream.fileStore.maxSize $fileStore $dlq $headroom $fits) }}
{{- end }}
{{- $fits }}
{{- else }}
{{- $cap := int64 $s.maxBytes }}
{{- if gt $cap $fits }}
{{- fail (printf "config.stream.maxBytes (%d) + config.stream.deadLetterMaxBytes (%d) + headroom (%d) exceed nats.jetstream.fileStore.maxSize (%s = %d B): NATS would refuse the stream. Lower maxBytes to at most %d, or leave it null to derive it" $cap $dlq $headroom .Values.nats.jetstream.fileStore.maxSize $fileStore $fits) }}
{{- end }}
{{- $cap }}
{{- end }}
{{- else if $explicit }}
{{- int64 $s.maxBytes }}
{{- else }}
{{- fail "config.stream.maxBytes is required with an external NATS (nats.enabled=false): set config.stream.maxBytes so that it plus config.stream.deadLetterMaxBytes and some headroom (max(64 MiB, 10%)) fit in your NATS servers' JetStream file store (max_file_store); k8s/nats-values.yaml names the values that fit the file store it sets up" }}
{{- end }}
{{- end }}

{{/* GOMEMLIMIT for nats-server: nats.goMemLimitPercent of its memory limit; empty without a limit. */}}
{{- define "pubsub-aggregator.nats.goMemLimit" -}}
{{- $limit := dig "limits" "memory" "" .Values.nats.resources }}
{{- if $limit }}
{{- $bytes := include "pubsub-aggregator.bytes.k8s" $limit | float64 }}
{{- divf (mulf $bytes (float64 .Values.nats.goMemLimitPercent)) 100.0 | floor | int64 }}
{{- end }}
{{- end }}
