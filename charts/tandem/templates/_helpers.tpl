{{/*
The enabled services, validated, as a JSON list of the context dicts the library's templates
take (root is added by each caller: a context cannot travel through JSON).
*/}}
{{- define "tandem.services" -}}
{{- $services := list -}}
{{- range $name, $svc := .Values.services -}}
{{- if $svc.enabled -}}
{{- include "tandem-lib.validate" (dict "root" $ "name" $name "svc" $svc) -}}
{{- $services = append $services $name -}}
{{- end -}}
{{- end -}}
{{- toJson $services -}}
{{- end -}}
