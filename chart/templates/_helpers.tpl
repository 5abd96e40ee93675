{{/* Chart name, for the app.kubernetes.io/name label. */}}
{{- define "ticket-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* "<release>-<chart>" (or just the release name when it already contains the chart name), max 63 chars. */}}
{{- define "ticket-gateway.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ticket-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels for every resource. */}}
{{- define "ticket-gateway.labels" -}}
helm.sh/chart: {{ include "ticket-gateway.chart" . }}
{{ include "ticket-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ include "ticket-gateway.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ticket-gateway
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "ticket-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ticket-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of one component: (dict "context" $ "component" "api").
*/}}
{{- define "ticket-gateway.componentLabels" -}}
{{ include "ticket-gateway.labels" .context }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "ticket-gateway.componentSelectorLabels" -}}
{{ include "ticket-gateway.selectorLabels" .context }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "ticket-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ticket-gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ticket-gateway.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "ticket-gateway.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "ticket-gateway.imageTag" .) }}
{{- end }}
{{- end }}

{{- define "ticket-gateway.secretName" -}}
{{- default (include "ticket-gateway.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "ticket-gateway.configMapName" -}}
{{- include "ticket-gateway.fullname" . }}
{{- end }}

{{- define "ticket-gateway.postgresql.fullname" -}}
{{- printf "%s-postgresql" (include "ticket-gateway.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* PUBLIC_BASE_URL: the configured one, else the Ingress host, else empty. */}}
{{- define "ticket-gateway.publicBaseUrl" -}}
{{- if .Values.config.PUBLIC_BASE_URL }}
{{- .Values.config.PUBLIC_BASE_URL }}
{{- else if .Values.ingress.enabled }}
{{- printf "%s://%s" (ternary "https" "http" .Values.ingress.tls.enabled) .Values.ingress.host }}
{{- end }}
{{- end }}

{{/*
Environment of every app container (API, worker, migration job). Non-secret settings come from
the ConfigMap (envFrom); each secret is wired here by its exact variable name.
*/}}
{{- define "ticket-gateway.env" -}}
{{- $secret := include "ticket-gateway.secretName" . -}}
- name: SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: SECRET_KEY
- name: ENCRYPTION_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: ENCRYPTION_KEYS
- name: JWT_PREVIOUS_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: JWT_PREVIOUS_KEYS
      optional: true
- name: SENTRY_DSN
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: SENTRY_DSN
      optional: true
{{- if .Values.postgresql.enabled }}
- name: POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: POSTGRES_PASSWORD
{{- /* Kubernetes expands $(POSTGRES_PASSWORD) from the variable above. */}}
- name: DATABASE_URL
  value: {{ printf "postgresql://%s:$(POSTGRES_PASSWORD)@%s:5432/%s" .Values.postgresql.auth.username (include "ticket-gateway.postgresql.fullname" .) .Values.postgresql.auth.database | quote }}
{{- else }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: DATABASE_URL
{{- end }}
- name: PROMETHEUS_MULTIPROC_DIR
  value: /tmp/metrics
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The /tmp and metrics emptyDirs every app container mounts (the root filesystem is read-only). */}}
{{- define "ticket-gateway.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: metrics
  mountPath: /tmp/metrics
{{- end }}

{{- define "ticket-gateway.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
- name: metrics
  emptyDir:
    sizeLimit: {{ .Values.metricsVolume.sizeLimit }}
{{- end }}

{{/* Annotations that roll the pods when the settings or the chart-managed secrets change. */}}
{{- define "ticket-gateway.checksumAnnotations" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if not .Values.secrets.existingSecret }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- end }}

{{/*
Memory one API pod needs with every login hashing at once (MiB):
uwsgiProcesses x (processBaselineMiB + PASSWORD_HASH_CONCURRENCY x argon2 memory cost) + masterMiB.
*/}}
{{- define "ticket-gateway.apiMemoryMiB" -}}
{{- $profiles := dict "RFC_9106_LOW_MEMORY" 64 "RFC_9106_HIGH_MEMORY" 2048 "PRE_21_2" 100 "CHEAPEST" 1 -}}
{{- $profile := toString (default "RFC_9106_LOW_MEMORY" .Values.config.PASSWORD_HASH_PROFILE) -}}
{{- if not (hasKey $profiles $profile) }}
{{- fail (printf "config.PASSWORD_HASH_PROFILE %q is not an argon2 profile the chart knows (%s)." $profile (keys $profiles | sortAlpha | join ", ")) }}
{{- end }}
{{- $concurrency := int (default "2" (toString .Values.config.PASSWORD_HASH_CONCURRENCY)) -}}
{{- $perProcess := add (int .Values.api.memory.processBaselineMiB) (mul (max 1 $concurrency) (get $profiles $profile)) -}}
{{- add (mul (int .Values.api.uwsgiProcesses) $perProcess) (int .Values.api.memory.masterMiB) -}}
{{- end }}

{{/* A Kubernetes memory quantity in MiB (Ki, Mi, Gi, K, M, G or plain bytes), or "" when it has another form. */}}
{{- define "ticket-gateway.quantityMiB" -}}
{{- $q := toString . -}}
{{- if regexMatch "^[0-9]+Mi$" $q }}{{ trimSuffix "Mi" $q }}
{{- else if regexMatch "^[0-9]+Gi$" $q }}{{ mul (int (trimSuffix "Gi" $q)) 1024 }}
{{- else if regexMatch "^[0-9]+Ki$" $q }}{{ div (int64 (trimSuffix "Ki" $q)) 1024 }}
{{- else if regexMatch "^[0-9]+M$" $q }}{{ div (mul (int64 (trimSuffix "M" $q)) 1000000) 1048576 }}
{{- else if regexMatch "^[0-9]+G$" $q }}{{ div (mul (int64 (trimSuffix "G" $q)) 1000000000) 1048576 }}
{{- else if regexMatch "^[0-9]+$" $q }}{{ div (int64 $q) 1048576 }}
{{- end }}
{{- end }}

{{/* The API container's resources; limits.memory defaults to ticket-gateway.apiMemoryMiB. */}}
{{- define "ticket-gateway.apiResources" -}}
{{- $resources := deepCopy .Values.api.resources -}}
{{- $limits := default dict $resources.limits -}}
{{- if not $limits.memory }}
{{- $_ := set $limits "memory" (printf "%sMi" (include "ticket-gateway.apiMemoryMiB" .)) }}
{{- end }}
{{- $_ := set $resources "limits" $limits }}
{{- toYaml $resources }}
{{- end }}

{{/*
Refuse values that would deploy something broken or leak a secret. Included by the ConfigMap,
which is always rendered.
*/}}
{{- define "ticket-gateway.validateValues" -}}
{{- $secretNames := list "SECRET_KEY" "ENCRYPTION_KEYS" "JWT_PREVIOUS_KEYS" "DATABASE_URL" "SENTRY_DSN" "POSTGRES_PASSWORD" -}}
{{- range $name := $secretNames }}
{{- if hasKey $.Values.config $name }}
{{- fail (printf "config.%s: %s is a secret; set it under secrets (or in secrets.existingSecret), not in the ConfigMap." $name $name) }}
{{- end }}
{{- end }}
{{- $needed := int (include "ticket-gateway.apiMemoryMiB" .) }}
{{- with (.Values.api.resources.limits | default dict).memory }}
{{- $given := include "ticket-gateway.quantityMiB" . }}
{{- if and $given (lt (int64 $given) (int64 $needed)) }}
{{- fail (printf "api.resources.limits.memory %s is below the %d MiB a pod needs when every process hashes passwords at once: api.uwsgiProcesses x (api.memory.processBaselineMiB + config.PASSWORD_HASH_CONCURRENCY x argon2 memory cost) + api.memory.masterMiB. Raise the limit, leave it out (the chart then computes it), or lower PASSWORD_HASH_CONCURRENCY or uwsgiProcesses." . $needed) }}
{{- end }}
{{- end }}
{{- if and .Values.worker.enabled .Values.worker.livenessProbe (not .Values.config.WORKER_HEARTBEAT_FILE) }}
{{- fail "worker.livenessProbe checks the heartbeat file, but config.WORKER_HEARTBEAT_FILE is empty: the worker would be restarted forever. Set the file or set worker.livenessProbe to {}." }}
{{- end }}
{{- $egress := .Values.networkPolicy.egress }}
{{- if and $egress.enabled (not .Values.postgresql.enabled) (not $egress.database.cidrs) (not $egress.database.peers) }}
{{- fail "networkPolicy.egress.enabled needs the external database's address: set networkPolicy.egress.database.cidrs (or .peers), or the pods cannot reach it." }}
{{- end }}
{{- if not .Values.image.repository }}
{{- fail "image.repository is required." }}
{{- end }}
{{- if and .Values.postgresql.enabled .Values.secrets.DATABASE_URL }}
{{- fail "secrets.DATABASE_URL must be empty when postgresql.enabled: the chart builds it for the in-cluster database. Disable postgresql to use an external database." }}
{{- end }}
{{- if not .Values.secrets.existingSecret }}
{{- $hint := "Pass secrets with --set-literal (e.g. --set-literal secrets.ENCRYPTION_KEYS=\"$ENCRYPTION_KEYS\" from a CI/CD variable; --set and --set-string split a value at its commas), with --set-file, or name a pre-made Secret with secrets.existingSecret." }}
{{- if not .Values.secrets.SECRET_KEY }}
{{- fail (printf "secrets.SECRET_KEY is required. %s" $hint) }}
{{- end }}
{{- if and (eq (toString .Values.config.APP_CONFIGURATION) "production") (lt (len .Values.secrets.SECRET_KEY) 32) }}
{{- fail "secrets.SECRET_KEY must be at least 32 characters when APP_CONFIGURATION is production." }}
{{- end }}
{{- if not .Values.secrets.ENCRYPTION_KEYS }}
{{- fail (printf "secrets.ENCRYPTION_KEYS is required (comma-separated Fernet keys). %s" $hint) }}
{{- end }}
{{- if and (not .Values.postgresql.enabled) (not .Values.secrets.DATABASE_URL) }}
{{- fail (printf "secrets.DATABASE_URL is required (or postgresql.enabled for an in-cluster database). %s" $hint) }}
{{- end }}
{{- if .Values.postgresql.enabled }}
{{- if not .Values.secrets.POSTGRES_PASSWORD }}
{{- fail (printf "secrets.POSTGRES_PASSWORD is required with postgresql.enabled. %s" $hint) }}
{{- end }}
{{- if not (regexMatch "^[A-Za-z0-9._~-]+$" .Values.secrets.POSTGRES_PASSWORD) }}
{{- fail "secrets.POSTGRES_PASSWORD may hold only letters, digits and -._~ (it is placed in DATABASE_URL unescaped)." }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
