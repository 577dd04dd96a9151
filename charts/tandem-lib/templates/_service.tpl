{{/*
A role's Service: the api's ClusterIP Service on its HTTP port; for a worker role a headless
Service on its metrics port, there only so that a ServiceMonitor can find its pods.
*/}}
{{- define "tandem-lib.service" -}}
{{- $port := include "tandem-lib.portName" . -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "tandem-lib.roleFullname" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "tandem-lib.labels" . | nindent 4 }}
spec:
  type: ClusterIP
  {{- if eq .role.kind "worker" }}
  clusterIP: None
  {{- end }}
  selector:
    {{- include "tandem-lib.selectorLabels" . | nindent 4 }}
  ports:
    - name: {{ $port }}
      port: {{ eq $port "http" | ternary (include "tandem-lib.httpPort" .) (include "tandem-lib.metricsPort" .) }}
      targetPort: {{ $port }}
      protocol: TCP
{{- end -}}

{{/* The service's ServiceAccount: an identity only, its API token never mounted. */}}
{{- define "tandem-lib.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "tandem-lib.serviceAccountName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "tandem-lib.labels" . | nindent 4 }}
  {{- with (.svc.serviceAccount | default dict).annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: false
{{- end -}}

{{/* The service's plain TANDEM_* settings; its hash rolls the pods when it changes. */}}
{{- define "tandem-lib.configMap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "tandem-lib.configMapName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "tandem-lib.labels" (omit . "component") | nindent 4 }}
data:
  {{- include "tandem-lib.configData" . | nindent 2 }}
{{- end -}}
