{{/*
Read-only access to the release namespace's workloads, for a service that shows them
(observes.workloads: observability's fleet view): get, list and watch on deployments,
replicasets and pods, nothing else (no secrets, no writes, no exec), in its namespace only,
bound to the service's own ServiceAccount.
*/}}
{{- define "tandem-lib.workloadReaderRole" -}}
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ include "tandem-lib.serviceFullname" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "tandem-lib.labels" . | nindent 4 }}
rules:
  - apiGroups: ["apps"]
    resources: ["deployments", "replicasets"]
    verbs: ["get", "list", "watch"]
  - apiGroups: [""]
    resources: ["pods"]
    verbs: ["get", "list", "watch"]
{{- end -}}

{{- define "tandem-lib.workloadReaderBinding" -}}
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ include "tandem-lib.serviceFullname" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "tandem-lib.labels" . | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ include "tandem-lib.serviceFullname" . }}
subjects:
  - kind: ServiceAccount
    name: {{ include "tandem-lib.serviceAccountName" . }}
    namespace: {{ .root.Release.Namespace }}
{{- end -}}
