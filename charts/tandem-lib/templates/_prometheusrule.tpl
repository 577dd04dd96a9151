{{/* An alert's runbook: global.runbookBaseUrl#<alert name in lower case>. */}}
{{- define "tandem-lib.runbook" -}}
{{- printf "%s#%s" .root.Values.global.runbookBaseUrl (lower .alert) -}}
{{- end -}}

{{/*
Recording rules and alerts of one service. The SLO: 99.9 % of messages handled without being
parked; error ratio = parked / (handled + parked). Burn-rate alerts after the Google SRE
workbook (multiwindow, multi-burn-rate): page at 14.4x over 1h and 5m, ticket at 6x over 6h
and 30m.
*/}}
{{- define "tandem-lib.prometheusRule" -}}
{{- $alerts := .svc.alerts | default dict -}}
{{- $sel := printf "namespace=%q,tandem_service=%q" .root.Release.Namespace .name -}}
{{- $ctx := . -}}
{{- $consumeRoles := list -}}
{{- range $roleName, $role := .svc.roles -}}
{{- if has "consume" ($role.workerRoles | default list) }}{{ $consumeRoles = append $consumeRoles $roleName }}{{ end -}}
{{- end -}}
{{- $budget := printf "(1 - %v)" (dig "slo" "objective" 0.999 $alerts) -}}
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: {{ include "tandem-lib.serviceFullname" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "tandem-lib.labels" . | nindent 4 }}
    {{- with .root.Values.metrics.prometheusRule.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  groups:
    {{- if dig "slo" "enabled" true $alerts }}
    - name: {{ printf "tandem.%s.slo" .name }}
      rules:
        {{- range $window := list "5m" "30m" "1h" "6h" }}
        - record: {{ printf "tandem:messages_park_ratio:rate%s" $window }}
          expr: |-
            sum(rate(tandem_messages_parked_total{ {{- $sel -}} }[{{ $window }}]))
            /
            (
              sum(rate(tandem_messages_handled_total{ {{- $sel -}} }[{{ $window }}]))
              +
              sum(rate(tandem_messages_parked_total{ {{- $sel -}} }[{{ $window }}]))
            )
          labels:
            namespace: {{ $ctx.root.Release.Namespace }}
            tandem_service: {{ $ctx.name }}
        {{- end }}
    {{- end }}
    - name: {{ printf "tandem.%s.alerts" .name }}
      rules:
        - alert: TandemMessagesParked
          expr: sum by (consumer, reason) (increase(tandem_messages_parked_total{ {{- $sel -}} }[{{ dig "parked" "window" "10m" $alerts }}])) > 0
          labels:
            severity: warning
            service: {{ .name }}
          annotations:
            summary: {{ printf "%s parked messages" .name | quote }}
            description: {{ printf "Consumer {{ $labels.consumer }} of %s parked {{ $value }} message(s) (reason {{ $labels.reason }}) in the last %s: each needs a decision in /v1/parked." .name (dig "parked" "window" "10m" $alerts) | quote }}
            runbook_url: {{ include "tandem-lib.runbook" (dict "root" .root "alert" "TandemMessagesParked") }}
        - alert: TandemIntakePaused
          expr: max by (consumer, downstream) (tandem_consumer_paused{ {{- $sel -}} }) == 1
          for: {{ dig "intakePaused" "for" "10m" $alerts }}
          labels:
            severity: warning
            service: {{ .name }}
          annotations:
            summary: {{ printf "%s paused its intake: a downstream is unavailable" .name | quote }}
            description: {{ printf "Consumer {{ $labels.consumer }} of %s has held its intake for {{ $labels.downstream }} for over %s; it probes and resumes by itself once the downstream answers." .name (dig "intakePaused" "for" "10m" $alerts) | quote }}
            runbook_url: {{ include "tandem-lib.runbook" (dict "root" .root "alert" "TandemIntakePaused") }}
        - alert: TandemOutboxLag
          expr: max(tandem_outbox_lag_seconds{ {{- $sel -}} }) > {{ dig "outboxLag" "thresholdSeconds" 60 $alerts }}
          for: {{ dig "outboxLag" "for" "5m" $alerts }}
          labels:
            severity: warning
            service: {{ .name }}
          annotations:
            summary: {{ printf "%s's outbox is not being relayed" .name | quote }}
            description: {{ printf "The oldest unpublished outbox row of %s is {{ $value | humanizeDuration }} old (threshold %vs): check the relay and the broker." .name (dig "outboxLag" "thresholdSeconds" 60 $alerts) | quote }}
            runbook_url: {{ include "tandem-lib.runbook" (dict "root" .root "alert" "TandemOutboxLag") }}
        {{- if dig "reconciliation" "enabled" true $alerts }}
        - alert: TandemReconciliationMismatches
          # Only the replica leading the schedule: one that lost the lead keeps its last count.
          expr: max(tandem_job_last_found{ {{- $sel -}} ,job="reconcile"} and on(instance) (tandem_scheduler_leader{ {{- $sel -}} } == 1)) > 0
          labels:
            severity: warning
            service: {{ .name }}
          annotations:
            summary: {{ printf "%s's last reconciliation found mismatches" .name | quote }}
            description: {{ printf "The last reconciliation run of %s found {{ $value }} mismatch(es) between the systems of record; each was published as ReconciliationMismatch." .name | quote }}
            runbook_url: {{ include "tandem-lib.runbook" (dict "root" .root "alert" "TandemReconciliationMismatches") }}
        - alert: TandemReconciliationStale
          expr: time() - max(tandem_job_last_success_timestamp_seconds{ {{- $sel -}} ,job="reconcile"}) > {{ mul 2 (dig "reconciliation" "intervalSeconds" 3600 $alerts | int) }}
          labels:
            severity: warning
            service: {{ .name }}
          annotations:
            summary: {{ printf "%s has not reconciled successfully for two intervals" .name | quote }}
            description: {{ printf "No successful reconcile run of %s for {{ $value | humanizeDuration }} (interval %vs): see tandem_job_runs_total{outcome=\"failed\"} and the scheduler's logs." .name (dig "reconciliation" "intervalSeconds" 3600 $alerts) | quote }}
            runbook_url: {{ include "tandem-lib.runbook" (dict "root" .root "alert" "TandemReconciliationStale") }}
        {{- end }}
        {{- if and $consumeRoles (dig "partitionsUnowned" "enabled" true $alerts) }}
        - alert: TandemPartitionsUnowned
          expr: |-
            (sum(tandem_partitions_owned{ {{- $sel -}} }) or vector(0)) < {{ .svc.partitions | int }}
            and on()
            sum(up{ {{- $sel -}} ,tandem_role=~{{ join "|" $consumeRoles | quote }}}) > 0
          for: {{ dig "partitionsUnowned" "for" "10m" $alerts }}
          labels:
            severity: critical
            service: {{ .name }}
          annotations:
            summary: {{ printf "Partitions of %s have no consumer" .name | quote }}
            description: {{ printf "Only {{ $value }} of the %d partitions of %s are leased by a running consumer: the keys of the others wait." (.svc.partitions | int) .name | quote }}
            runbook_url: {{ include "tandem-lib.runbook" (dict "root" .root "alert" "TandemPartitionsUnowned") }}
        {{- end }}
        {{- if dig "slo" "enabled" true $alerts }}
        - alert: TandemSLOBurnFast
          expr: |-
            tandem:messages_park_ratio:rate1h{ {{- $sel -}} } > (14.4 * {{ $budget }})
            and
            tandem:messages_park_ratio:rate5m{ {{- $sel -}} } > (14.4 * {{ $budget }})
          labels:
            severity: critical
            service: {{ .name }}
          annotations:
            summary: {{ printf "%s burns its parking error budget 14.4x too fast" .name | quote }}
            description: {{ printf "{{ $value | humanizePercentage }} of %s's messages were parked over the last hour (SLO: %v handled without parking): at this rate the 30-day budget is gone in 2 days." .name (dig "slo" "objective" 0.999 $alerts) | quote }}
            runbook_url: {{ include "tandem-lib.runbook" (dict "root" .root "alert" "TandemSLOBurnFast") }}
        - alert: TandemSLOBurnSlow
          expr: |-
            tandem:messages_park_ratio:rate6h{ {{- $sel -}} } > (6 * {{ $budget }})
            and
            tandem:messages_park_ratio:rate30m{ {{- $sel -}} } > (6 * {{ $budget }})
          labels:
            severity: warning
            service: {{ .name }}
          annotations:
            summary: {{ printf "%s burns its parking error budget 6x too fast" .name | quote }}
            description: {{ printf "{{ $value | humanizePercentage }} of %s's messages were parked over the last 6 hours (SLO: %v handled without parking): at this rate the 30-day budget is gone in 5 days." .name (dig "slo" "objective" 0.999 $alerts) | quote }}
            runbook_url: {{ include "tandem-lib.runbook" (dict "root" .root "alert" "TandemSLOBurnSlow") }}
        {{- end }}
    {{- if dig "sloRules" "enabled" false $alerts }}
    {{- include "tandem-lib.sloRuleGroups" . | nindent 4 }}
    {{- end }}
{{- end -}}

{{/*
Tandem's SLOs (alerts.sloRules): the groups of the application chart's files/slo-rules.yaml,
which `make slo-rules` writes from observability's domain/slo.py. Their alerts get the
service label like every alert here, and their runbook_url the chart's runbookBaseUrl (the
anchor is the file's).
*/}}
{{- define "tandem-lib.sloRuleGroups" -}}
{{- $file := fromYaml (.root.Files.Get "files/slo-rules.yaml") -}}
{{- if not $file.groups -}}
{{- fail "files/slo-rules.yaml has no rule groups: run make slo-rules" -}}
{{- end -}}
{{- range $group := $file.groups -}}
{{- range $rule := $group.rules -}}
{{- if $rule.alert -}}
{{- $_ := set $rule.labels "service" $.name -}}
{{- $anchor := last (splitList "#" $rule.annotations.runbook_url) -}}
{{- $_ := set $rule.annotations "runbook_url" (printf "%s#%s" $.root.Values.global.runbookBaseUrl $anchor) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml $file.groups -}}
{{- end -}}
