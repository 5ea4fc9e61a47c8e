{{- define "peacewatch.name" -}}peacewatch{{- end -}}

{{- define "peacewatch.fullname" -}}
{{- printf "%s-peacewatch" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "peacewatch.labels" -}}
app.kubernetes.io/name: peacewatch
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "peacewatch.selector" -}}
app.kubernetes.io/name: peacewatch
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "peacewatch.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "peacewatch.serviceAccount" -}}
{{- if .Values.serviceAccount.create -}}{{ default (include "peacewatch.fullname" .) .Values.serviceAccount.name }}{{- else -}}{{ default "default" .Values.serviceAccount.name }}{{- end -}}
{{- end -}}

{{- define "peacewatch.pulsarHost" -}}
{{- default (printf "%s-pulsar-broker" .Release.Name) .Values.connections.pulsar.host -}}
{{- end -}}

{{- define "peacewatch.minioHost" -}}
{{- default (printf "%s-minio" .Release.Name) .Values.connections.minio.host -}}
{{- end -}}

{{- define "peacewatch.minioSecret" -}}
{{- default (printf "%s-minio" .Release.Name) .Values.connections.minioCredentials.existingSecret -}}
{{- end -}}

{{/* The environment every peacewatch container gets: where things are, and who it is. */}}
{{- define "peacewatch.env" -}}
- name: PEACEWATCH_STATE_DIR
  value: /var/lib/peacewatch
- name: PEACEWATCH_PULSAR__HOST
  value: {{ include "peacewatch.pulsarHost" . | quote }}
- name: PEACEWATCH_PULSAR__BROKER_PORT
  value: {{ .Values.connections.pulsar.brokerPort | quote }}
- name: PEACEWATCH_PULSAR__WEB_PORT
  value: {{ .Values.connections.pulsar.webPort | quote }}
- name: PEACEWATCH_MINIO__HOST
  value: {{ include "peacewatch.minioHost" . | quote }}
- name: PEACEWATCH_MINIO__PORT
  value: {{ .Values.connections.minio.port | quote }}
- name: PEACEWATCH_MINIO__REGION
  value: {{ .Values.connections.minio.region | quote }}
- name: PEACEWATCH_MINIO__ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "peacewatch.minioSecret" . }}
      key: {{ .Values.connections.minioCredentials.userKey }}
- name: PEACEWATCH_MINIO__SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "peacewatch.minioSecret" . }}
      key: {{ .Values.connections.minioCredentials.passwordKey }}
- name: PEACEWATCH_LAKE_CREDENTIALS
  value: {{ .Values.sink.credentials | quote }}
- name: PYSPARK_PYTHON
  value: /opt/peacewatch/venv/bin/python
{{- end -}}

{{/* The Pulsar token key and superuser token, mounted where peacewatch's state dir expects them. */}}
{{- define "peacewatch.secretVolumes" -}}
- name: pulsar-secret-key
  secret:
    secretName: {{ default (printf "%s-pulsar-token-symmetric-key" .Release.Name) .Values.connections.pulsarAuth.secretKeySecret }}
    defaultMode: 0400
    items:
      - key: {{ .Values.connections.pulsarAuth.secretKeyKey }}
        path: pulsar-token-secret.key
- name: pulsar-superuser-token
  secret:
    secretName: {{ default (printf "%s-pulsar-token-admin" .Release.Name) .Values.connections.pulsarAuth.superuserTokenSecret }}
    defaultMode: 0400
    items:
      - key: {{ .Values.connections.pulsarAuth.superuserTokenKey }}
        path: superuser.token
- name: tenant-specs
  configMap:
    name: {{ include "peacewatch.fullname" . }}-tenants
- name: state
  emptyDir: {}
{{- end -}}

{{- define "peacewatch.secretMounts" -}}
- name: state
  mountPath: /var/lib/peacewatch
- name: pulsar-secret-key
  mountPath: /var/lib/peacewatch/secrets/pulsar-token-secret.key
  subPath: pulsar-token-secret.key
  readOnly: true
- name: pulsar-superuser-token
  mountPath: /var/lib/peacewatch/secrets/superuser.token
  subPath: superuser.token
  readOnly: true
- name: tenant-specs
  mountPath: /etc/peacewatch/tenants
  readOnly: true
{{- end -}}

{{- define "peacewatch.podSecurity" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  fsGroup: 10001
{{- end -}}

{{- define "peacewatch.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  capabilities: {drop: [ALL]}
{{- end -}}
