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

{{/* Workloads: a service account with no API token and no rights. */}}
{{- define "peacewatch.serviceAccount" -}}{{ include "peacewatch.fullname" . }}{{- end -}}
{{/* The onboarding Job's: may write the forces' kit Secrets, nothing else. */}}
{{- define "peacewatch.onboardingServiceAccount" -}}{{ include "peacewatch.fullname" . }}-onboarding{{- end -}}

{{- define "peacewatch.pulsarHost" -}}
{{- default (printf "%s-pulsar-broker" .Release.Name) .Values.connections.pulsar.host -}}
{{- end -}}

{{- define "peacewatch.minioHost" -}}
{{- default (printf "%s-minio" .Release.Name) .Values.connections.minio.host -}}
{{- end -}}

{{- define "peacewatch.minioSecret" -}}
{{- default (printf "%s-minio" .Release.Name) .Values.connections.minioCredentials.existingSecret -}}
{{- end -}}

{{- define "peacewatch.tokenKeySecret" -}}
{{- default (printf "%s-token-symmetric-key" .Release.Name) .Values.connections.pulsarAuth.secretKeySecret -}}
{{- end -}}

{{- define "peacewatch.superuserTokenSecret" -}}
{{- default (printf "%s-token-%s" .Release.Name .Values.pulsar.auth.superUsers.client) .Values.connections.pulsarAuth.superuserTokenSecret -}}
{{- end -}}

{{/* A force's kit Secret: written by the onboarding Job (peacewatch tenants publish-kits). */}}
{{- define "peacewatch.kitSecret" -}}
{{- printf "%s-%s-%s" (include "peacewatch.fullname" .root) .tenant .kit -}}
{{- end -}}

{{/* Where things are: every peacewatch container. No credentials in here. */}}
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
- name: PYSPARK_PYTHON
  value: /opt/peacewatch/venv/bin/python
{{- end -}}

{{/* The state dir (an emptyDir) with one force's kit mounted where peacewatch reads it.
     Call with (dict "root" $ "tenant" NAME "kit" KIT). */}}
{{- define "peacewatch.kitVolumes" -}}
- name: state
  emptyDir: {}
- name: kit-{{ .kit }}
  secret:
    secretName: {{ include "peacewatch.kitSecret" . }}
    defaultMode: 0400
{{- end -}}

{{- define "peacewatch.kitMounts" -}}
- name: state
  mountPath: /var/lib/peacewatch
- name: kit-{{ .kit }}
  mountPath: /var/lib/peacewatch/secrets/forces/{{ .tenant }}/{{ .kit }}
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

{{/*
Prometheus' scrape annotations on a pod template's metadata (monitoring.annotations).
*/}}
{{- define "peacewatch.scrapeAnnotations" -}}
{{- if .root.Values.monitoring.annotations }}
annotations:
  prometheus.io/scrape: "true"
  prometheus.io/port: {{ .port | quote }}
  prometheus.io/path: /metrics
{{- end }}
{{- end }}
