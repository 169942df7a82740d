{{/*
Chart name, truncated to the 63 characters Kubernetes allows in names.
*/}}
{{- define "maestro.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name. The release name is used alone when it already contains the chart name.
*/}}
{{- define "maestro.fullname" -}}
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

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "maestro.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: stable for the life of a release (Deployment selectors are immutable).
*/}}
{{- define "maestro.selectorLabels" -}}
app.kubernetes.io/name: {{ include "maestro.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Common labels, including the Maestro platform's own maestro.service / maestro.layer labels.
*/}}
{{- define "maestro.labels" -}}
helm.sh/chart: {{ include "maestro.chart" . }}
{{ include "maestro.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | toString | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: maestro
app.kubernetes.io/component: server
maestro.service: maestro
maestro.layer: application
{{- end }}

{{/*
Service account name.
*/}}
{{- define "maestro.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "maestro.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: repository@digest when a digest is set, else repository:tag (tag defaults to appVersion).
*/}}
{{- define "maestro.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}
{{- end }}

{{/*
Name of the Secret the pods read (the chart's own or secrets.existingSecret).
*/}}
{{- define "maestro.secretName" -}}
{{- default (include "maestro.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/*
Name of the PVC mounted at /app/data.
*/}}
{{- define "maestro.pvcName" -}}
{{- default (printf "%s-data" (include "maestro.fullname" .)) .Values.persistence.existingClaim }}
{{- end }}

{{/*
"true" when more than one pod may run at once (replicaCount > 1 or autoscaling).
*/}}
{{- define "maestro.multiReplica" -}}
{{- if or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) }}true{{- end }}
{{- end }}

{{/*
"true" when the data volume can only be attached to one node (ReadWriteOnce / ReadWriteOncePod).
An existing claim is assumed to be ReadWriteOnce unless accessModes says ReadWriteMany.
*/}}
{{- define "maestro.singleAttachVolume" -}}
{{- if and .Values.persistence.enabled (not (has "ReadWriteMany" .Values.persistence.accessModes)) }}true{{- end }}
{{- end }}

{{/*
Deployment strategy: Recreate whenever two pods must not overlap (SQLite, or a volume only one
node can attach), RollingUpdate otherwise.
*/}}
{{- define "maestro.strategy" -}}
{{- if or (eq .Values.database.type "sqlite") (include "maestro.singleAttachVolume" .) }}
type: Recreate
{{- else }}
type: RollingUpdate
rollingUpdate:
  maxSurge: 25%
  maxUnavailable: 0
{{- end }}
{{- end }}

{{/*
Checks that cannot be expressed in values.schema.json. Rendered (as nothing) by the Deployment.
*/}}
{{- define "maestro.validate" -}}
{{- if eq .Values.database.type "sqlite" }}
{{- if include "maestro.multiReplica" . }}
{{- fail "database.type=sqlite runs exactly one pod: set replicaCount=1 and autoscaling.enabled=false, or use database.type=postgres" }}
{{- end }}
{{- if not .Values.persistence.enabled }}
{{- fail "database.type=sqlite keeps the database on the data volume: persistence.enabled must be true" }}
{{- end }}
{{- end }}
{{- if and (eq .Values.database.type "postgres") (not .Values.database.url) (not .Values.secrets.existingSecret) }}
{{- fail "database.type=postgres needs database.url (postgres://user:password@host:5432/db) or secrets.existingSecret with a MAESTRO__DATABASE__URL key" }}
{{- end }}
{{- if and .Values.database.url (not (or (hasPrefix "postgres://" .Values.database.url) (hasPrefix "postgresql://" .Values.database.url))) }}
{{- fail "database.url must start with postgres:// or postgresql:// (SQLite is database.type=sqlite)" }}
{{- end }}
{{- if and .Values.redis.url (not (or (hasPrefix "redis://" .Values.redis.url) (hasPrefix "rediss://" .Values.redis.url))) }}
{{- fail "redis.url must start with redis:// or rediss://" }}
{{- end }}
{{- if and .Values.auth.secretKey (lt (len .Values.auth.secretKey) 32) }}
{{- fail "auth.secretKey must be at least 32 characters (e.g. `openssl rand -hex 32`)" }}
{{- end }}
{{- if and (include "maestro.multiReplica" .) (include "maestro.singleAttachVolume" .) }}
{{- fail "more than one replica cannot share a ReadWriteOnce volume: set persistence.accessModes=[ReadWriteMany] (RWX storage), or persistence.enabled=false with template repositories synced to a git remote" }}
{{- end }}
{{- if and .Values.config.auth.oidc.issuer (not .Values.config.auth.oidc.audience) }}
{{- fail "config.auth.oidc.audience is required when config.auth.oidc.issuer is set" }}
{{- end }}
{{- end }}
