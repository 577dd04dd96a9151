{{/* The image tag every workload of the service runs: service tag, global tag, appVersion. */}}
{{- define "tandem-lib.imageTag" -}}
{{- $image := .svc.image | default dict -}}
{{- $image.tag | default .root.Values.global.image.tag | default .root.Chart.AppVersion -}}
{{- end -}}

{{/* <registry>/<repository>/<service>:<tag>; an empty registry is left out with its slash. */}}
{{- define "tandem-lib.image" -}}
{{- $global := .root.Values.global.image -}}
{{- $image := .svc.image | default dict -}}
{{- $repository := printf "%s/%s" ($image.repository | default $global.repository) .name -}}
{{- if $global.registry -}}
{{- $repository = printf "%s/%s" $global.registry $repository -}}
{{- end -}}
{{- printf "%s:%s" $repository (include "tandem-lib.imageTag" .) -}}
{{- end -}}

{{/*
Labels that never change for the life of a workload: the only ones selectors use
(a Deployment's selector is immutable, so version or chart labels there would block upgrades).
Pass `component` in the context for a role's or the migration's pods.
*/}}
{{- define "tandem-lib.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
tandem.io/service: {{ .name }}
{{- end -}}

{{/* Every label of an object: the selector labels plus the ones that change with upgrades. */}}
{{- define "tandem-lib.labels" -}}
{{ include "tandem-lib.selectorLabels" . }}
app.kubernetes.io/version: {{ include "tandem-lib.imageTag" . | replace "+" "_" | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/part-of: tandem
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/* Labels of release-wide objects (no service): the default-deny policy, dashboards. */}}
{{- define "tandem-lib.releaseLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: tandem
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}
