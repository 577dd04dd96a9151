{{/*
Names. Every template of this library takes one context dict:
  root      the application chart's top context ($)
  name      the service's key in .Values.services (kebab-case, e.g. time-expense)
  svc       that service's values
  roleName  the role's key in svc.roles (role templates only, e.g. api, worker)
  role      that role's values (role templates only)
Names are never truncated: a name that would be too long fails the render, since two
truncated names could collide.
*/}}

{{/* <release>-<service>: the service's ServiceAccount, ConfigMap, monitoring objects. */}}
{{- define "tandem-lib.serviceFullname" -}}
{{- $full := printf "%s-%s" .root.Release.Name .name -}}
{{- if gt (len $full) 55 -}}
{{- fail (printf "name %q (release + service) is %d characters; at most 55 leave room for the suffixes Kubernetes needs: shorten the release or service name" $full (len $full)) -}}
{{- end -}}
{{- $full -}}
{{- end -}}

{{/* <release>-<service>-<role>: a role's Deployment, Service, HPA, ScaledObject, PDB, NetworkPolicy. */}}
{{- define "tandem-lib.roleFullname" -}}
{{- $full := printf "%s-%s-%s" .root.Release.Name .name .roleName -}}
{{- if gt (len $full) 63 -}}
{{- fail (printf "name %q (release + service + role) is %d characters, over the 63 a Service name allows: shorten the release, service or role name" $full (len $full)) -}}
{{- end -}}
{{- $full -}}
{{- end -}}

{{/* The ServiceAccount the service's pods run as. */}}
{{- define "tandem-lib.serviceAccountName" -}}
{{- $sa := .svc.serviceAccount | default dict -}}
{{- if $sa.name -}}
{{- $sa.name -}}
{{- else if include "tandem-lib.createsServiceAccount" . -}}
{{- include "tandem-lib.serviceFullname" . -}}
{{- else -}}
default
{{- end -}}
{{- end -}}

{{/* The ConfigMap of the service's plain TANDEM_* settings. */}}
{{- define "tandem-lib.configMapName" -}}
{{- printf "%s-env" (include "tandem-lib.serviceFullname" .) -}}
{{- end -}}

{{/* The migration Job and its hook ServiceAccount. */}}
{{- define "tandem-lib.migrationName" -}}
{{- printf "%s-migrate" (include "tandem-lib.serviceFullname" .) -}}
{{- end -}}

{{/* Whether the chart creates the service's ServiceAccount (unless told not to): "true" or "". */}}
{{- define "tandem-lib.createsServiceAccount" -}}
{{- if dig "serviceAccount" "create" true .svc }}true{{ end -}}
{{- end -}}
