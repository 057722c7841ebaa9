{{/*
The migration Job's spec, and its name derived from it.

The name is <fullname>-migrate-<hash>: the first 10 hex digits of sha256(chart version + this spec),
so it changes exactly when what the Job runs changes (image reference, command, env, pod settings)
and never with the release revision. A Job's pod template is immutable: a renderer that cannot count
revisions (`helm template`, Argo CD: always revision 1) would otherwise re-apply a changed template
onto the finished Job, which Kubernetes refuses, and no migration would run again. With the hash,
every change is a new Job that runs once; re-applying the same render is a no-op. 44 + 9 + 10 = 63
characters, the limit of the job-name label Kubernetes puts on its pods.
*/}}
{{- define "pubsub-aggregator.migration.jobName" -}}
{{- $hash := printf "%s\n%s" .Chart.Version (include "pubsub-aggregator.migration.jobSpec" .) | sha256sum | trunc 10 }}
{{- printf "%s-migrate-%s" (include "pubsub-aggregator.fullname" . | trunc 44 | trimSuffix "-") $hash }}
{{- end }}

{{/*
spec of the migration Job. Its pod carries checksum/credentials, so a changed password value (which
the Job writes into the app role) is a new Job too. A Secret of your own (existingSecret) enters only
by name: after changing its passwords, force a new run with any new migration.podAnnotations value.
*/}}
{{- define "pubsub-aggregator.migration.jobSpec" -}}
backoffLimit: {{ .Values.migration.backoffLimit }}
activeDeadlineSeconds: {{ .Values.migration.activeDeadlineSeconds }}
{{- if not (kindIs "invalid" .Values.migration.ttlSecondsAfterFinished) }}
ttlSecondsAfterFinished: {{ .Values.migration.ttlSecondsAfterFinished }}
{{- end }}
template:
  metadata:
    labels:
      {{- include "pubsub-aggregator.podLabels" (dict "ctx" . "component" "migration") | nindent 6 }}
    annotations:
      kubectl.kubernetes.io/default-container: migrate
      {{- include "pubsub-aggregator.secretChecksums" (dict "ctx" .) | nindent 6 }}
      {{- with .Values.migration.podAnnotations }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
  spec:
    restartPolicy: OnFailure
    serviceAccountName: {{ include "pubsub-aggregator.serviceAccountName" . }}
    automountServiceAccountToken: false
    {{- with (include "pubsub-aggregator.imagePullSecrets" .) }}
    {{- . | nindent 4 }}
    {{- end }}
    securityContext:
      {{- toYaml .Values.podSecurityContext | nindent 6 }}
    initContainers:
      {{- include "pubsub-aggregator.waitContainer" (dict "ctx" . "waitFor" "postgres") | nindent 6 }}
    containers:
      - name: migrate
        image: {{ include "pubsub-aggregator.migrationImage" . | quote }}
        imagePullPolicy: {{ .Values.image.pullPolicy }}
        command: ["node", "dist/apps/main.js", "migrate"]
        env:
          {{- include "pubsub-aggregator.appEnv.migrate" . | nindent 10 }}
          {{- with .Values.extraEnv }}
          {{- toYaml . | nindent 10 }}
          {{- end }}
          # The Prisma CLI compiles prisma.config.ts at start; keep its compile cache off the
          # read-only root filesystem (HOME and TMPDIR are the /tmp emptyDir).
          - name: JITI_FS_CACHE
            value: "false"
          - name: JITI_CACHE
            value: "false"
          - name: TMPDIR
            value: /tmp
        securityContext:
          {{- toYaml .Values.containerSecurityContext | nindent 10 }}
        resources:
          {{- toYaml .Values.migration.resources | nindent 10 }}
        volumeMounts:
          - name: tmp
            mountPath: /tmp
    volumes:
      - name: tmp
        emptyDir:
          sizeLimit: 256Mi
      {{- include "pubsub-aggregator.scriptsVolume" . | nindent 6 }}
    {{- with .Values.migration.nodeSelector }}
    nodeSelector:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with .Values.migration.tolerations }}
    tolerations:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with .Values.migration.affinity }}
    affinity:
      {{- toYaml . | nindent 6 }}
    {{- end }}
{{- end }}
