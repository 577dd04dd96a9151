{{/* The ports the service kit serves on: api HTTP (TANDEM_HTTP_PORT), worker probes and metrics. */}}
{{- define "tandem-lib.httpPort" -}}8000{{- end -}}
{{- define "tandem-lib.metricsPort" -}}9000{{- end -}}

{{/*
The service's plain settings, as a YAML map: the ConfigMap's data, and the migration Job's env
(a pre-install hook runs before the ConfigMap exists). Secrets never land here.
*/}}
{{- define "tandem-lib.configData" -}}
{{- $auth := .root.Values.global.auth -}}
TANDEM_SERVICE_NAME: {{ .name | quote }}
TANDEM_HTTP_HOST: "0.0.0.0"
TANDEM_HTTP_PORT: {{ include "tandem-lib.httpPort" . | quote }}
TANDEM_WORKER_HTTP_PORT: {{ include "tandem-lib.metricsPort" . | quote }}
TANDEM_PARTITIONS: {{ .svc.partitions | int | toString | quote }}
{{- if dig "observes" "workloads" false .svc }}
TANDEM_KUBERNETES_NAMESPACE: {{ .root.Release.Namespace | quote }}
{{- end }}
{{- with .root.Values.global.tracing.traceUrlTemplate }}
{{- if dig "observes" "traces" false $.svc }}
TANDEM_TRACE_URL_TEMPLATE: {{ . | quote }}
{{- end }}
{{- end }}
{{- with $auth.jwksUrl }}
TANDEM_JWT_JWKS_URL: {{ . | quote }}
{{- end }}
{{- with $auth.audience }}
TANDEM_JWT_AUDIENCE: {{ . | quote }}
{{- end }}
{{- with $auth.issuer }}
TANDEM_JWT_ISSUER: {{ . | quote }}
{{- end }}
{{- range $key, $value := .svc.env }}
{{ $key }}: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* A secret reference: the service's override, its missing keys from the global one. */}}
{{- define "tandem-lib.secretRef" -}}
{{- $own := get (.ctx.svc.secrets | default dict) .which | default dict -}}
{{- merge (deepCopy $own) (get .ctx.root.Values.global.secrets .which) | toJson -}}
{{- end -}}

{{/* The Secret of the service's systems of record, or "" when it has none. */}}
{{- define "tandem-lib.systemsSecretName" -}}
{{- $systems := (.svc.secrets | default dict).systems | default dict -}}
{{- if (hasKey $systems "enabled" | ternary $systems.enabled true) -}}
{{- $systems.name | default (printf "%s-systems" .name) -}}
{{- end -}}
{{- end -}}

{{/* Whether the service talks to systems of record (has a systems Secret): "true" or "". */}}
{{- define "tandem-lib.hasSystems" -}}
{{- if include "tandem-lib.systemsSecretName" . }}true{{ end -}}
{{- end -}}

{{/*
envFrom of every container: the plain settings (left out for the migration Job, which gets
them inline), the auth Secret (API keys, JWT keys) and the systems Secret (instances with
their credentials and webhook secrets; every process needs it, since the settings check
that ERP routes name configured instances).
*/}}
{{- define "tandem-lib.envFrom" -}}
{{- $auth := fromJson (include "tandem-lib.secretRef" (dict "ctx" . "which" "auth")) -}}
{{- if ne .component "migrate" }}
- configMapRef:
    name: {{ include "tandem-lib.configMapName" . }}
{{- end }}
{{- with $auth.name }}
- secretRef:
    name: {{ . }}
{{- end }}
{{- with include "tandem-lib.systemsSecretName" . }}
- secretRef:
    name: {{ . }}
{{- end }}
{{- end -}}

{{/*
env of every container: the connection URLs by secretKeyRef only (and, but for the migration,
the service's own keys of Secrets: secrets.env), the role's settings, and OpenTelemetry's
standard variables with the pod's identity from the downward API.
*/}}
{{- define "tandem-lib.env" -}}
{{- $db := fromJson (include "tandem-lib.secretRef" (dict "ctx" . "which" "database")) -}}
{{- $broker := fromJson (include "tandem-lib.secretRef" (dict "ctx" . "which" "broker")) -}}
- name: TANDEM_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $db.name }}
      key: {{ $db.key }}
{{- if eq .component "migrate" }}
{{- range $key, $value := fromYaml (include "tandem-lib.configData" .) }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{- else }}
- name: TANDEM_AMQP_URL
  valueFrom:
    secretKeyRef:
      name: {{ $broker.name }}
      key: {{ $broker.key }}
{{- range $variable, $ref := (.svc.secrets | default dict).env }}
{{- if $ref }}
- name: {{ $variable }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.name }}
      key: {{ $ref.key }}
{{- end }}
{{- end }}
{{- if eq .role.kind "worker" }}
- name: TANDEM_WORKER_ROLES
  value: {{ .role.workerRoles | toJson | quote }}
{{- end }}
{{- range $key, $value := .role.env }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{ include "tandem-lib.otelEnv" . }}
{{- end }}
{{- end -}}

{{- define "tandem-lib.otelEnv" -}}
{{- $tracing := .root.Values.global.tracing -}}
- name: K8S_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: K8S_NAMESPACE_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: K8S_NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: OTEL_SERVICE_NAME
  value: {{ .name | quote }}
{{- if $tracing.enabled }}
{{- $attributes := list
  "k8s.pod.name=$(K8S_POD_NAME)"
  "k8s.namespace.name=$(K8S_NAMESPACE_NAME)"
  "k8s.node.name=$(K8S_NODE_NAME)"
  (printf "k8s.deployment.name=%s" (include "tandem-lib.roleFullname" .))
  "service.namespace=tandem"
  (printf "service.version=%s" (include "tandem-lib.imageTag" .))
  (printf "tandem.role=%s" .roleName) }}
{{- range $key, $value := $tracing.resourceAttributes }}
{{- $attributes = append $attributes (printf "%s=%s" $key $value) }}
{{- end }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $tracing.endpoint | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ $tracing.protocol | quote }}
- name: OTEL_TRACES_SAMPLER
  value: {{ $tracing.sampler | quote }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ $tracing.samplerArg | quote }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ join "," $attributes | quote }}
{{- else }}
- name: OTEL_SDK_DISABLED
  value: "true"
{{- end }}
{{- end -}}
