{{/* Names, labels and small computed values shared by the templates. */}}

{{- define "switchboard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "switchboard.fullname" -}}
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

{{/* The operator's Deployment, Service and (Cluster)Role: <fullname>-operator. */}}
{{- define "switchboard.operatorName" -}}
{{- printf "%s-operator" (include "switchboard.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "switchboard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "switchboard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchboard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "switchboard.labels" -}}
helm.sh/chart: {{ include "switchboard.chart" . }}
{{ include "switchboard.selectorLabels" . }}
app.kubernetes.io/part-of: switchboard
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "switchboard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "switchboard.operatorName" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create=false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag or repository@digest (the tag defaults to the appVersion). */}}
{{- define "switchboard.image" -}}
{{- $tag := default $.root.Chart.AppVersion .image.tag }}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository $tag }}
{{- end }}
{{- end }}

{{- define "switchboard.peeringName" -}}
{{- default (include "switchboard.fullname" .) .Values.peering.name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "switchboard.clusterScoped" -}}
{{- if eq .Values.watchScope "cluster" }}true{{ end }}
{{- end }}

{{- define "switchboard.livekitSecretName" -}}
{{- if .Values.livekit.existingSecret }}
{{- .Values.livekit.existingSecret }}
{{- else if .Values.livekit.url }}
{{- printf "%s-livekit" (include "switchboard.fullname" .) }}
{{- end }}
{{- end }}

{{- define "switchboard.reportKeySecretName" -}}
{{- default (printf "%s-report-key" (include "switchboard.fullname" .)) .Values.reportKey.existingSecret }}
{{- end }}

{{- define "switchboard.piiRootKeySecretName" -}}
{{- default (printf "%s-pii-root-key" (include "switchboard.fullname" .)) .Values.piiRootKey.existingSecret }}
{{- end }}

{{/* Workers POST their load reports here: the operator Service, in-cluster DNS. */}}
{{- define "switchboard.reportURL" -}}
{{- printf "http://%s.%s.svc:%d/v1/reports" (include "switchboard.operatorName" .) .Release.Namespace (int .Values.report.port) }}
{{- end }}

{{/* Fail early on combinations the schema cannot express. */}}
{{- define "switchboard.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.peering.enabled) }}
{{- fail "replicaCount > 1 needs peering.enabled=true (otherwise every replica would act on every object)" }}
{{- end }}
{{- if and (not .Values.livekit.existingSecret) (or .Values.livekit.apiKey .Values.livekit.apiSecret) (not .Values.livekit.url) }}
{{- fail "livekit.url is required with livekit.apiKey/apiSecret" }}
{{- end }}
{{- if and .Values.livekit.url (not .Values.livekit.existingSecret) (not (and .Values.livekit.apiKey .Values.livekit.apiSecret)) }}
{{- fail "livekit.apiKey and livekit.apiSecret are required with livekit.url (or use livekit.existingSecret)" }}
{{- end }}
{{- end }}

{{/*
The Secret the operator publishes media-stream routes to (one key per VoiceAgent with
spec.mediaStreams) and the gateway mounts.
*/}}
{{- define "switchboard.gatewayRoutesSecretName" -}}
{{- printf "%s-gateway-routes" (include "switchboard.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
