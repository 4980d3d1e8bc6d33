{{/* Chart name, overridable. */}}
{{- define "thoth-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name when it already contains the chart name, else `<release>-<chart>`. */}}
{{- define "thoth-operator.fullname" -}}
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

{{- define "thoth-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "thoth-operator.labels" -}}
helm.sh/chart: {{ include "thoth-operator.chart" . }}
{{ include "thoth-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: thoth
{{- end }}

{{/* Labels selecting the operator's pods. */}}
{{- define "thoth-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "thoth-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "thoth-operator.serviceAccountName" -}}
{{- default (include "thoth-operator.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{/* Image reference: repository plus digest, else the tag, else the chart's appVersion. */}}
{{- define "thoth-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Worker namespaces, sorted and without repeats: each kind's namespace and every namespace with an
admission limit. One name per line. */}}
{{- define "thoth-operator.workerNamespaces" -}}
{{- $op := .Values.operator }}
{{- $names := list $op.solver.namespace $op.securityIndicators.namespace $op.adviser.namespace }}
{{- range $op.admissionLimits }}
{{- $names = append $names .namespace }}
{{- end }}
{{- range ($names | uniq | sortAlpha) }}
{{ . }}
{{- end }}
{{- end }}

{{/* The Workflows' ServiceAccounts per worker namespace, as `namespace/name` lines without repeats. */}}
{{- define "thoth-operator.workflowServiceAccounts" -}}
{{- $op := .Values.operator }}
{{- $pairs := list }}
{{- range (list $op.solver $op.securityIndicators $op.adviser) }}
{{- $pairs = append $pairs (printf "%s/%s" .namespace .serviceAccount) }}
{{- end }}
{{- range ($pairs | uniq | sortAlpha) }}
{{ . }}
{{- end }}
{{- end }}

{{- define "thoth-operator.kafkaUsesSasl" -}}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol }}true{{ end }}
{{- end }}

{{- define "thoth-operator.kafkaUsesSsl" -}}
{{- if hasSuffix "SSL" .Values.kafka.securityProtocol }}true{{ end }}
{{- end }}

{{/* The namespace resources made from Kafka messages are created in; it must be watched. */}}
{{- define "thoth-operator.resourceNamespace" -}}
{{- $ns := default .Release.Namespace .Values.operator.resourceNamespace }}
{{- if and .Values.operator.watchNamespaces (not (has $ns .Values.operator.watchNamespaces)) }}
{{- fail (printf "operator.resourceNamespace %s must be one of operator.watchNamespaces" $ns) }}
{{- end }}
{{- $ns }}
{{- end }}
