{{/*
Deployment of one application process (ingest or consumer), with its PodDisruptionBudget and HPA.
Call with (dict "ctx" $ "component" "ingest" "v" .Values.ingest). Its environment is the process's
own (pubsub-aggregator.appEnv.<component>, generated from shared/config.ts), then extraEnv, then
<component>.extraEnv. The component is also its NATS user (templates/_nats.tpl).
*/}}
{{- define "pubsub-aggregator.appWorkload" -}}
{{- $ctx := .ctx }}
{{- $v := .v }}
{{- $name := include "pubsub-aggregator.componentName" (dict "ctx" $ctx "component" .component) }}
{{- $preStop := int (default 0 $v.preStopSleepSeconds) }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "pubsub-aggregator.componentLabels" (dict "ctx" $ctx "component" .component) | nindent 4 }}
  annotations:
    # Argo CD: applied only once wave 0 is healthy, which holds the migration Job (complete) and
    # NATS and PostgreSQL (ready). A failed migration then stops the sync before the Deployments
    # change, and the running pods keep serving. Other tools ignore it (the init containers order
    # the start there).
    argocd.argoproj.io/sync-wave: "1"
spec:
  {{- if not $v.autoscaling.enabled }}
  replicas: {{ $v.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      # New pods wait in their init container for the migration; old pods keep serving meanwhile.
      maxUnavailable: 0
      maxSurge: 1
  selector:
    matchLabels:
      {{- include "pubsub-aggregator.componentSelectorLabels" (dict "ctx" $ctx "component" .component) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "pubsub-aggregator.podLabels" (dict "ctx" $ctx "component" .component) | nindent 8 }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        kubectl.kubernetes.io/default-container: {{ .component }}
        {{- include "pubsub-aggregator.secretChecksums" (dict "ctx" $ctx "auth" (eq .component "ingest")) | nindent 8 }}
        {{- with (include "pubsub-aggregator.scrapeAnnotations" (dict "ctx" $ctx "port" (default $v.port $v.metricsPort))) }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "pubsub-aggregator.serviceAccountName" $ctx }}
      automountServiceAccountToken: false
      {{- with (include "pubsub-aggregator.imagePullSecrets" $ctx) }}
      {{- . | nindent 6 }}
      {{- end }}
      {{- with $v.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      # Drain time (SHUTDOWN_TIMEOUT_MS) + preStop sleep + margin, so SIGKILL never cuts a drain short.
      terminationGracePeriodSeconds: {{ include "pubsub-aggregator.terminationGracePeriodSeconds" (dict "ctx" $ctx "preStop" $preStop) }}
      securityContext:
        {{- toYaml $ctx.Values.podSecurityContext | nindent 8 }}
      initContainers:
        {{- include "pubsub-aggregator.waitContainer" (dict "ctx" $ctx "waitFor" "migrations") | nindent 8 }}
      containers:
        - name: {{ .component }}
          image: {{ include "pubsub-aggregator.image" $ctx | quote }}
          imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
          command: ["node", "dist/apps/main.js", {{ .component | quote }}]
          ports:
            - name: http
              containerPort: {{ $v.port }}
              protocol: TCP
            {{- with $v.metricsPort }}
            - name: metrics
              containerPort: {{ . }}
              protocol: TCP
            {{- end }}
          env:
            {{- include (printf "pubsub-aggregator.appEnv.%s" .component) $ctx | nindent 12 }}
            {{- with $ctx.Values.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- with $v.startupProbe }}
          startupProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: {{ .periodSeconds }}
            timeoutSeconds: {{ default 3 .timeoutSeconds }}
            failureThreshold: {{ include "pubsub-aggregator.startupFailureThreshold" (dict "ctx" $ctx "probe" .) }}
          {{- end }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            {{- toYaml $v.livenessProbe | nindent 12 }}
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
            {{- toYaml $v.readinessProbe | nindent 12 }}
          {{- if gt $preStop 0 }}
          lifecycle:
            preStop:
              # Keep serving while the endpoint is removed from Services, then SIGTERM starts the drain.
              sleep:
                seconds: {{ $preStop }}
          {{- end }}
          securityContext:
            {{- toYaml $ctx.Values.containerSecurityContext | nindent 12 }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- include "pubsub-aggregator.scriptsVolume" $ctx | nindent 8 }}
      {{- include "pubsub-aggregator.topologySpreadConstraints" (dict "ctx" $ctx "component" .component "spread" $v.topologySpread) | nindent 6 }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- if $v.podDisruptionBudget.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $name }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "pubsub-aggregator.componentLabels" (dict "ctx" $ctx "component" .component) | nindent 4 }}
spec:
  maxUnavailable: {{ $v.podDisruptionBudget.maxUnavailable }}
  unhealthyPodEvictionPolicy: {{ $v.podDisruptionBudget.unhealthyPodEvictionPolicy }}
  selector:
    matchLabels:
      {{- include "pubsub-aggregator.componentSelectorLabels" (dict "ctx" $ctx "component" .component) | nindent 6 }}
{{- end }}
{{- if $v.autoscaling.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $name }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "pubsub-aggregator.componentLabels" (dict "ctx" $ctx "component" .component) | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $name }}
  minReplicas: {{ $v.autoscaling.minReplicas }}
  maxReplicas: {{ $v.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $v.autoscaling.targetCPUUtilizationPercentage }}
{{- end }}
{{- end }}

{{/*
Periods of a startupProbe that cover config.startupTimeoutMs plus 60 s: the process's own start,
and its last NATS connect attempt, which may begin just before the timeout and take 20 s
(apps/plugins/nats.ts startupPluginTimeoutMs). An explicit failureThreshold wins.
Call with (dict "ctx" $ "probe" .Values.ingest.startupProbe).
*/}}
{{- define "pubsub-aggregator.startupFailureThreshold" -}}
{{- if not (kindIs "invalid" .probe.failureThreshold) }}
{{- .probe.failureThreshold }}
{{- else }}
{{- $seconds := add (div (add (int64 .ctx.Values.config.startupTimeoutMs) 999) 1000) 60 }}
{{- div (add $seconds (sub (int64 .probe.periodSeconds) 1)) (int64 .probe.periodSeconds) }}
{{- end }}
{{- end }}
