{{/*
A ServiceMonitor per service: the api's Service on port http, the workers' headless Services on
port metrics, /metrics on both. honorLabels keeps the `job` and `service` labels of the kit's
job metrics; tandem_service and tandem_role come from the pod's labels, for alerts and
dashboards.
*/}}
{{- define "tandem-lib.serviceMonitor" -}}
{{- $sm := .root.Values.metrics.serviceMonitor -}}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "tandem-lib.serviceFullname" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "tandem-lib.labels" . | nindent 4 }}
    {{- with $sm.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "tandem-lib.selectorLabels" . | nindent 6 }}
  namespaceSelector:
    matchNames:
      - {{ .root.Release.Namespace }}
  endpoints:
    {{- range $port := list "http" "metrics" }}
    - port: {{ $port }}
      path: /metrics
      interval: {{ $sm.interval }}
      scrapeTimeout: {{ $sm.scrapeTimeout }}
      honorLabels: true
      relabelings:
        - sourceLabels: [__meta_kubernetes_pod_label_tandem_io_service]
          targetLabel: tandem_service
        - sourceLabels: [__meta_kubernetes_pod_label_app_kubernetes_io_component]
          targetLabel: tandem_role
    {{- end }}
{{- end -}}
