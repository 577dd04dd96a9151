{{/*
Hardened pods (Pod Security Standard "restricted"): the image runs as uid/gid 10001 and
needs nothing writable but /tmp, an emptyDir.
*/}}
{{- define "tandem-lib.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "tandem-lib.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
privileged: false
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
Whether a role's pods get a Kubernetes API token: only the api of a service that reads the
release's workloads (observes.workloads). "true" or "".
*/}}
{{- define "tandem-lib.mountsApiToken" -}}
{{- if .role -}}
{{- if and (eq .role.kind "api") (dig "observes" "workloads" false .svc) }}true{{ end -}}
{{- end -}}
{{- end -}}

{{/*
What every pod spec of the chart shares: identity, no automounted API token, hardening, /tmp.
A pod that reads the Kubernetes API gets its token as the kubelet would mount it (bound,
expiring, rotated), but explicitly: automountServiceAccountToken stays false everywhere.
*/}}
{{- define "tandem-lib.podCommon" -}}
serviceAccountName: {{ .serviceAccountName | default (include "tandem-lib.serviceAccountName" .) }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .root.Values.global.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- include "tandem-lib.podSecurityContext" . | nindent 2 }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: 256Mi
  {{- if include "tandem-lib.mountsApiToken" . }}
  - name: kube-api-access
    projected:
      defaultMode: 292
      sources:
        - serviceAccountToken:
            path: token
            expirationSeconds: 3607
        - configMap:
            name: kube-root-ca.crt
            items:
              - key: ca.crt
                path: ca.crt
        - downwardAPI:
            items:
              - path: namespace
                fieldRef:
                  fieldPath: metadata.namespace
  {{- end }}
{{- end -}}

{{/* The container's mounts: /tmp, and the API token where the pod has one. */}}
{{- define "tandem-lib.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- if include "tandem-lib.mountsApiToken" . }}
- name: kube-api-access
  mountPath: /var/run/secrets/kubernetes.io/serviceaccount
  readOnly: true
{{- end }}
{{- end -}}
