{{/*
The onboarding role's pod: the only workload holding the platform's keys (token signing key,
superuser token, MinIO root). `step`: "apply" (the post-install/upgrade Job: make the platform match
values.tenants) or "renew" (the renewal CronJob: re-issue the kit tokens that are due). Either way
it restores the kits published before and publishes them again (the workloads mount them as
folders, so a renewed token reaches running pods without a restart).
*/}}
{{- define "peacewatch.onboardingPodSpec" -}}
{{- $root := .root }}
{{- $prefix := include "peacewatch.fullname" $root }}
spec:
  restartPolicy: OnFailure
  serviceAccountName: {{ include "peacewatch.onboardingServiceAccount" $root }}
  {{- include "peacewatch.podSecurity" $root | nindent 2 }}
  containers:
    - name: tenants-apply
      image: {{ include "peacewatch.image" $root }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      {{- include "peacewatch.containerSecurity" $root | nindent 6 }}
      command: ["/bin/sh", "-ec"]
      args:
        - |
          # The platform's keys are copied into the state folder: a file mounted into it
          # (subPath) would make its secrets/ folder root's, which this non-root Job cannot extend.
          # A fresh install starts this Job beside Pulsar: wait for the broker to be ready
          # (status.html) rather than spend the Job's retries on a broker still starting.
          until curl -sf --max-time 10 "http://${PEACEWATCH_PULSAR__HOST}:${PEACEWATCH_PULSAR__WEB_PORT}/status.html" >/dev/null; do
            echo "waiting for the broker at ${PEACEWATCH_PULSAR__HOST} ..."; sleep 5
          done
          install -d -m 700 /var/lib/peacewatch/secrets
          install -m 600 /etc/peacewatch/platform/pulsar-token-secret.key /etc/peacewatch/platform/superuser.token /var/lib/peacewatch/secrets/
          peacewatch tenants restore-kits --secret-prefix {{ $prefix }}{{ range $root.Values.tenants }} {{ .name }}{{ end }}
          {{- if eq .step "apply" }}
          peacewatch tenants apply{{ range $root.Values.tenants }} /etc/peacewatch/tenants/{{ .name }}.yaml{{ end }}
          {{- else }}
          peacewatch tenants renew{{ range $root.Values.tenants }} {{ .name }}{{ end }}
          {{- end }}
          peacewatch tenants publish-kits --secret-prefix {{ $prefix }}{{ range $root.Values.tenants }} {{ .name }}{{ end }}
      env:
        {{- include "peacewatch.env" $root | nindent 8 }}
        - name: PEACEWATCH_MINIO__ACCESS_KEY
          valueFrom:
            secretKeyRef:
              name: {{ include "peacewatch.minioSecret" $root }}
              key: {{ $root.Values.connections.minioCredentials.userKey }}
        - name: PEACEWATCH_MINIO__SECRET_KEY
          valueFrom:
            secretKeyRef:
              name: {{ include "peacewatch.minioSecret" $root }}
              key: {{ $root.Values.connections.minioCredentials.passwordKey }}
        # Token lifetimes and when they renew (values.tokens; seconds or ISO 8601): settings, so a
        # test lives months in minutes. Only this pod mints tokens.
        {{- range $name, $value := $root.Values.tokens }}
        {{- if $value }}
        - name: PEACEWATCH_TOKENS__{{ $name | snakecase | upper }}
          value: {{ $value | quote }}
        {{- end }}
        {{- end }}
        # The alert function's wheels, for the functions image's machine.
        - name: PEACEWATCH_FUNCTION_PACKAGE__PLATFORM
          value: {{ $root.Values.functionPackage.platform | quote }}
        - name: PEACEWATCH_FUNCTION_PACKAGE__PYTHON
          value: {{ $root.Values.functionPackage.python | quote }}
      volumeMounts:
        - name: state
          mountPath: /var/lib/peacewatch
        - name: token-key
          mountPath: /etc/peacewatch/platform/pulsar-token-secret.key
          subPath: pulsar-token-secret.key
          readOnly: true
        - name: superuser-token
          mountPath: /etc/peacewatch/platform/superuser.token
          subPath: superuser.token
          readOnly: true
        - name: tenant-specs
          mountPath: /etc/peacewatch/tenants
          readOnly: true
      resources:
        {{- toYaml $root.Values.onboarding.resources | nindent 8 }}
  volumes:
    - name: state
      emptyDir: {}
    - name: token-key
      secret:
        secretName: {{ include "peacewatch.tokenKeySecret" $root }}
        defaultMode: 0400
        items:
          - key: {{ $root.Values.connections.pulsarAuth.secretKeyKey }}
            path: pulsar-token-secret.key
    - name: superuser-token
      secret:
        secretName: {{ include "peacewatch.superuserTokenSecret" $root }}
        defaultMode: 0400
        items:
          - key: {{ $root.Values.connections.pulsarAuth.superuserTokenKey }}
            path: superuser.token
    - name: tenant-specs
      configMap:
        name: {{ include "peacewatch.fullname" $root }}-tenants
{{- end }}
