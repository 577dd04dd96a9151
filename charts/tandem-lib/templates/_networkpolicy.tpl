{{/* The release's default: no traffic in or out of its pods but what a policy below allows. */}}
{{- define "tandem-lib.defaultDenyNetworkPolicy" -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ printf "%s-default-deny" .Release.Name }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "tandem-lib.releaseLabels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
      app.kubernetes.io/part-of: tandem
  policyTypes:
    - Ingress
    - Egress
{{- end -}}

{{/* One egress rule: `ports` (numbers) over `protocols` to the `to` peers (none: anywhere). */}}
{{- define "tandem-lib.egressRule" -}}
- ports:
    {{- range $port := .ports }}
    {{- range $protocol := $.protocols }}
    - port: {{ $port }}
      protocol: {{ $protocol }}
    {{- end }}
    {{- end }}
  {{- with .to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* Whether a role calls systems of record: the api and ingest/consume/schedule workers do. */}}
{{- define "tandem-lib.callsSystems" -}}
{{- if and .role (include "tandem-lib.hasSystems" .) -}}
{{- if eq .role.kind "api" }}true{{ end -}}
{{- range $calls := list "consume" "ingest" "schedule" -}}
{{- if has $calls $.role.workerRoles }}true{{ end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Whether a role reads `what` of the release (observes.<what>): its api does. "true" or "". */}}
{{- define "tandem-lib.observes" -}}
{{- if .ctx.role -}}
{{- if and (eq .ctx.role.kind "api") (dig "observes" .what false .ctx.svc) }}true{{ end -}}
{{- end -}}
{{- end -}}

{{/* The enabled services that call the others' APIs (observes.serviceApis), as a JSON list. */}}
{{- define "tandem-lib.apiCallers" -}}
{{- $callers := list -}}
{{- range $name, $svc := .Values.services -}}
{{- if and $svc.enabled (dig "observes" "serviceApis" false $svc) }}{{ $callers = append $callers $name }}{{ end -}}
{{- end -}}
{{- toJson $callers -}}
{{- end -}}

{{/*
What one role (or, with component "migrate", the migration Job) may reach and be reached by.
Egress: DNS and PostgreSQL always; RabbitMQ, the trace collector and the systems of record
for the roles that use them (the migration only migrates); for the api of a service that
observes the release (observability), the Kubernetes API, the broker's management API and the
release's api ports. Ingress: the api's HTTP port (its callers and the systems' webhooks, and
where apiIngressFrom narrows it, the services that call the others' APIs), and the metrics
port from the monitoring namespace.
*/}}
{{- define "tandem-lib.networkPolicy" -}}
{{- $np := .root.Values.global.networkPolicy -}}
{{- $own := .svc.networkPolicy | default dict -}}
{{- $migrate := eq .component "migrate" -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ $migrate | ternary (include "tandem-lib.migrationName" .) (include "tandem-lib.roleFullname" .) }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "tandem-lib.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "tandem-lib.selectorLabels" . | nindent 6 }}
  policyTypes:
    - Ingress
    - Egress
  {{- if $migrate }}
  ingress: []
  {{- else }}
  ingress:
    {{- if eq .role.kind "api" }}
    - ports:
        - port: http
          protocol: TCP
      {{- with $np.apiIngressFrom }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- if $np.apiIngressFrom }}
    {{- range $caller := include "tandem-lib.apiCallers" .root | fromJsonArray }}
    - ports:
        - port: http
          protocol: TCP
      from:
        - podSelector:
            matchLabels:
              app.kubernetes.io/instance: {{ $.root.Release.Name }}
              tandem.io/service: {{ $caller }}
    {{- end }}
    {{- end }}
    {{- end }}
    - ports:
        - port: {{ include "tandem-lib.portName" . }}
          protocol: TCP
      from:
        - namespaceSelector:
            {{- toYaml $np.monitoringNamespaceSelector | nindent 12 }}
    {{- with $own.extraIngress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- end }}
  egress:
    {{- include "tandem-lib.egressRule" (dict "ports" $np.dns.ports "protocols" (list "UDP" "TCP") "to" $np.dns.to) | nindent 4 }}
    {{- include "tandem-lib.egressRule" (dict "ports" (list $np.database.port) "protocols" (list "TCP") "to" $np.database.to) | nindent 4 }}
    {{- if not $migrate }}
    {{- include "tandem-lib.egressRule" (dict "ports" $np.broker.ports "protocols" (list "TCP") "to" $np.broker.to) | nindent 4 }}
    {{- if .root.Values.global.tracing.enabled }}
    {{- include "tandem-lib.egressRule" (dict "ports" (list $np.tracing.port) "protocols" (list "TCP") "to" $np.tracing.to) | nindent 4 }}
    {{- end }}
    {{- if include "tandem-lib.observes" (dict "ctx" . "what" "workloads") }}
    {{- include "tandem-lib.egressRule" (dict "ports" $np.kubernetesApi.ports "protocols" (list "TCP") "to" $np.kubernetesApi.to) | nindent 4 }}
    {{- end }}
    {{- if include "tandem-lib.observes" (dict "ctx" . "what" "brokerManagement") }}
    {{- include "tandem-lib.egressRule" (dict "ports" $np.brokerManagement.ports "protocols" (list "TCP") "to" $np.brokerManagement.to) | nindent 4 }}
    {{- end }}
    {{- if include "tandem-lib.observes" (dict "ctx" . "what" "serviceApis") }}
    {{- $releasePods := dict "podSelector" (dict "matchLabels" (dict "app.kubernetes.io/instance" .root.Release.Name "app.kubernetes.io/part-of" "tandem")) }}
    {{- include "tandem-lib.egressRule" (dict "ports" (list (include "tandem-lib.httpPort" . | int)) "protocols" (list "TCP") "to" (list $releasePods)) | nindent 4 }}
    {{- end }}
    {{- if include "tandem-lib.callsSystems" . }}
    {{- include "tandem-lib.egressRule" (dict "ports" $np.systemsOfRecord.ports "protocols" (list "TCP") "to" $np.systemsOfRecord.to) | nindent 4 }}
    {{- end }}
    {{- with $own.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- end }}
{{- end -}}
