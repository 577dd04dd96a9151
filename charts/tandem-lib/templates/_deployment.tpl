{{/* Whether an autoscaler (HPA or KEDA) owns the role's replica count: "true" or "". */}}
{{- define "tandem-lib.autoscaled" -}}
{{- if or (dig "autoscaling" "enabled" false .role) (dig "keda" "enabled" false .role) }}true{{ end -}}
{{- end -}}

{{/* The fewest replicas the role runs with: what a PodDisruptionBudget can protect. */}}
{{- define "tandem-lib.minReplicas" -}}
{{- if dig "autoscaling" "enabled" false .role -}}
{{- dig "autoscaling" "minReplicas" 1 .role | int -}}
{{- else if dig "keda" "enabled" false .role -}}
{{- dig "keda" "minReplicas" 1 .role | int -}}
{{- else -}}
{{- .role.replicas | int -}}
{{- end -}}
{{- end -}}

{{/* The role's port name: the api serves its API there, a worker only probes and metrics. */}}
{{- define "tandem-lib.portName" -}}
{{- if eq .role.kind "api" }}http{{ else }}metrics{{ end -}}
{{- end -}}

{{/*
A role's Deployment. No `replicas` when an autoscaler owns the count (it would reset the
count on every upgrade). Probes: /healthz for startup (the process waits for its database
and broker, so it may take minutes) and liveness, /readyz for readiness.
*/}}
{{- define "tandem-lib.deployment" -}}
{{- $port := include "tandem-lib.portName" . -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "tandem-lib.roleFullname" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "tandem-lib.labels" . | nindent 4 }}
spec:
  {{- if not (include "tandem-lib.autoscaled" .) }}
  replicas: {{ .role.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "tandem-lib.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "tandem-lib.labels" . | nindent 8 }}
      annotations:
        checksum/config: {{ include "tandem-lib.configMap" . | sha256sum }}
        {{- with .role.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- include "tandem-lib.podCommon" . | nindent 6 }}
      containers:
        - name: {{ .roleName }}
          image: {{ include "tandem-lib.image" . }}
          imagePullPolicy: {{ .root.Values.global.image.pullPolicy }}
          args: [{{ .role.kind | quote }}]
          ports:
            - name: {{ $port }}
              containerPort: {{ eq $port "http" | ternary (include "tandem-lib.httpPort" .) (include "tandem-lib.metricsPort" .) }}
              protocol: TCP
          envFrom:
            {{- include "tandem-lib.envFrom" . | trim | nindent 12 }}
          env:
            {{- include "tandem-lib.env" . | nindent 12 }}
          startupProbe:
            httpGet:
              path: /healthz
              port: {{ $port }}
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 60
          livenessProbe:
            httpGet:
              path: /healthz
              port: {{ $port }}
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          readinessProbe:
            httpGet:
              path: /readyz
              port: {{ $port }}
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 3
          {{- with .role.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          securityContext:
            {{- include "tandem-lib.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            {{- include "tandem-lib.tmpMount" . | nindent 12 }}
      {{- with .role.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .role.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .role.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .role.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}
