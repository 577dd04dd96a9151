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

{{/* What every pod spec of the chart shares: identity, no API token, hardening, /tmp. */}}
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
{{- end -}}

{{- define "tandem-lib.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}
