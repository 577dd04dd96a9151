{{/*
The migration Job: `python -m <module> migrate`, a pre-install/pre-upgrade hook, so the schema
is current before any new pod starts. Hooks run before the release's ordinary objects exist,
so it gets its plain settings inline (not from the ConfigMap) and, when the chart creates
the service's ServiceAccount, a hook ServiceAccount of its own created just before it (weight
-10 < 0). Its pod is hardened like every other and mounts no API token.
*/}}
{{- define "tandem-lib.migrationServiceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "tandem-lib.migrationName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "tandem-lib.labels" . | nindent 4 }}
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "-10"
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
    {{- with (.svc.serviceAccount | default dict).annotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
automountServiceAccountToken: false
{{- end -}}

{{- define "tandem-lib.migrationJob" -}}
{{- $migrations := .svc.migrations | default dict -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "tandem-lib.migrationName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "tandem-lib.labels" . | nindent 4 }}
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "0"
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  backoffLimit: {{ dig "backoffLimit" 2 $migrations }}
  activeDeadlineSeconds: {{ dig "activeDeadlineSeconds" 900 $migrations }}
  ttlSecondsAfterFinished: {{ dig "ttlSecondsAfterFinished" 86400 $migrations }}
  template:
    metadata:
      labels:
        {{- include "tandem-lib.labels" . | nindent 8 }}
    spec:
      restartPolicy: Never
      {{- $account := eq (include "tandem-lib.createsServiceAccount" .) "true" | ternary (include "tandem-lib.migrationName" .) (include "tandem-lib.serviceAccountName" .) }}
      {{- include "tandem-lib.podCommon" (merge (dict "serviceAccountName" $account) .) | nindent 6 }}
      containers:
        - name: migrate
          image: {{ include "tandem-lib.image" . }}
          imagePullPolicy: {{ .root.Values.global.image.pullPolicy }}
          args: ["migrate"]
          envFrom:
            {{- include "tandem-lib.envFrom" . | trim | nindent 12 }}
          env:
            {{- include "tandem-lib.env" . | nindent 12 }}
          {{- with $migrations.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          securityContext:
            {{- include "tandem-lib.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            {{- include "tandem-lib.tmpMount" . | nindent 12 }}
{{- end -}}
