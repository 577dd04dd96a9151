{{/*
What values.schema.json cannot say (it compares no two values): checked once per service,
failing the render with a message that names the value to change.
*/}}
{{- define "tandem-lib.validate" -}}
{{- $name := .name -}}
{{- $svc := .svc -}}
{{- $partitions := $svc.partitions | int -}}
{{- if and (dig "observes" "workloads" false $svc) (not (dig "serviceAccount" "create" true $svc)) (not (dig "serviceAccount" "name" "" $svc)) -}}
{{- fail (printf "services.%s.observes.workloads binds a Role to the service's ServiceAccount: create one (serviceAccount.create) or name one (serviceAccount.name), never the namespace's default" $name) -}}
{{- end -}}
{{- if not $svc.roles -}}
{{- fail (printf "services.%s.roles: a service needs at least one role" $name) -}}
{{- end -}}
{{- range $roleName, $role := $svc.roles -}}
{{- $at := printf "services.%s.roles.%s" $name $roleName -}}
{{- $hpa := $role.autoscaling | default dict -}}
{{- $keda := $role.keda | default dict -}}
{{- $workerRoles := $role.workerRoles | default list -}}
{{- if and (eq $role.kind "worker") (not $workerRoles) -}}
{{- fail (printf "%s.workerRoles: a worker needs at least one of consume, ingest, relay, schedule" $at) -}}
{{- end -}}
{{- if and (eq $role.kind "api") $workerRoles -}}
{{- fail (printf "%s.workerRoles: only a role of kind worker has worker roles" $at) -}}
{{- end -}}
{{- if and $hpa.enabled $keda.enabled -}}
{{- fail (printf "%s: enable autoscaling or keda, not both (each would own the replica count)" $at) -}}
{{- end -}}
{{- range $which, $scaler := dict "autoscaling" $hpa "keda" $keda -}}
{{- if and $scaler.enabled (lt ($scaler.maxReplicas | int) ($scaler.minReplicas | int)) -}}
{{- fail (printf "%s.%s: maxReplicas (%d) is below minReplicas (%d)" $at $which ($scaler.maxReplicas | int) ($scaler.minReplicas | int)) -}}
{{- end -}}
{{- end -}}
{{- if and $hpa.enabled (not $hpa.targetCPUUtilizationPercentage) (not $hpa.targetMemoryUtilizationPercentage) -}}
{{- fail (printf "%s.autoscaling: set targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage" $at) -}}
{{- end -}}
{{- if and $keda.enabled (not (has "consume" $workerRoles)) -}}
{{- fail (printf "%s.keda: KEDA scales on queue depth, so only a worker with the consume role can use it" $at) -}}
{{- end -}}
{{- if has "consume" $workerRoles -}}
{{- $most := $role.replicas | int -}}
{{- $what := "replicas" -}}
{{- if $hpa.enabled }}{{ $most = $hpa.maxReplicas | int }}{{ $what = "autoscaling.maxReplicas" }}{{ end -}}
{{- if $keda.enabled }}{{ $most = $keda.maxReplicas | int }}{{ $what = "keda.maxReplicas" }}{{ end -}}
{{- if gt $most $partitions -}}
{{- fail (printf "%s.%s is %d, over services.%s.partitions (%d): consume replicas share the partitions by lease, so the extra ones would idle; raise partitions (see docs/adr/0009) or lower %s" $at $what $most $name $partitions $what) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
