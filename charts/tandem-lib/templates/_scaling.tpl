{{/* A HorizontalPodAutoscaler on CPU and/or memory utilisation of the role's requests. */}}
{{- define "tandem-lib.hpa" -}}
{{- $hpa := .role.autoscaling -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "tandem-lib.roleFullname" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "tandem-lib.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "tandem-lib.roleFullname" . }}
  minReplicas: {{ $hpa.minReplicas }}
  maxReplicas: {{ $hpa.maxReplicas }}
  metrics:
    {{- range $resource := list "cpu" "memory" }}
    {{- with get $hpa (printf "target%sUtilizationPercentage" (eq $resource "cpu" | ternary "CPU" "Memory")) }}
    - type: Resource
      resource:
        name: {{ $resource }}
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
    {{- end }}
{{- end -}}

{{/*
A KEDA ScaledObject on the depth of the service's partition queues (<queue>.p0 ..), read from
the RabbitMQ management API with the credentials of a TriggerAuthentication shipped beside the
chart (k8s/). KEDA creates and owns the HPA.
*/}}
{{- define "tandem-lib.scaledObject" -}}
{{- $keda := .role.keda -}}
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: {{ include "tandem-lib.roleFullname" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "tandem-lib.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "tandem-lib.roleFullname" . }}
  minReplicaCount: {{ $keda.minReplicas }}
  maxReplicaCount: {{ $keda.maxReplicas }}
  pollingInterval: {{ $keda.pollingInterval }}
  cooldownPeriod: {{ $keda.cooldownPeriod }}
  triggers:
    - type: rabbitmq
      metadata:
        protocol: http
        mode: QueueLength
        value: {{ $keda.queueLength | toString | quote }}
        useRegex: "true"
        operation: sum
        queueName: {{ printf "^%s\\.p[0-9]+$" (regexQuoteMeta .svc.queue) | quote }}
      authenticationRef:
        name: {{ .root.Values.global.keda.triggerAuthentication }}
{{- end -}}

{{/* A PodDisruptionBudget: rendered only for a role that runs more than one replica. */}}
{{- define "tandem-lib.pdb" -}}
{{- $pdb := .role.pdb -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "tandem-lib.roleFullname" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "tandem-lib.labels" . | nindent 4 }}
spec:
  {{- if hasKey $pdb "minAvailable" }}
  minAvailable: {{ $pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $pdb.maxUnavailable | default 1 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "tandem-lib.selectorLabels" . | nindent 6 }}
{{- end -}}
