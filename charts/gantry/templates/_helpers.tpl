{{/* Chart name, overridable. */}}
{{- define "gantry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects: <release>-gantry, or <release> when it already contains the chart name. */}}
{{- define "gantry.fullname" -}}
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

{{- define "gantry.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "gantry.labels" -}}
helm.sh/chart: {{ include "gantry.chart" . }}
{{ include "gantry.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gantry
{{- end }}

{{/* Labels that select the controller pods; never change them in an upgrade. */}}
{{- define "gantry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gantry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{- define "gantry.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gantry.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The controller image: repository@digest, or repository:tag (tag defaults to appVersion). */}}
{{- define "gantry.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* What Envoy bootstraps dial: the controller Service's cluster DNS name and xDS port. */}}
{{- define "gantry.xdsServiceAddress" -}}
{{- printf "%s.%s.svc.%s:%d" (include "gantry.fullname" .) .Release.Namespace .Values.clusterDomain (int .Values.xds.port) }}
{{- end }}

{{/*
Read access to namespaced inputs. Granted cluster wide by the ClusterRole, or per
watched namespace by a Role when controller.watchNamespaces is set.
*/}}
{{- define "gantry.rules.readNamespaced" -}}
- apiGroups: ["gateway.networking.k8s.io"]
  resources:
    - gateways
    - httproutes
    - grpcroutes
    - tlsroutes
    - tcproutes
    - udproutes
    - listenersets
    - referencegrants
    - backendtlspolicies
  verbs: ["get", "list", "watch"]
- apiGroups: ["security.gantry.io"]
  resources: ["authorizationpolicies"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["discovery.k8s.io"]
  resources: ["endpointslices"]
  verbs: ["get", "list", "watch"]
{{- end }}

{{/* Status of namespaced inputs. */}}
{{- define "gantry.rules.statusNamespaced" -}}
- apiGroups: ["gateway.networking.k8s.io"]
  resources:
    - gateways/status
    - httproutes/status
    - grpcroutes/status
    - tlsroutes/status
    - tcproutes/status
    - udproutes/status
    - listenersets/status
    - backendtlspolicies/status
  verbs: ["update", "patch"]
- apiGroups: ["security.gantry.io"]
  resources: ["authorizationpolicies/status"]
  verbs: ["update", "patch"]
{{- end }}

{{/*
The per-Gateway Envoy fleet, created in the Gateway's namespace with an owner
reference to the Gateway: these kinds and nothing else. Services and ConfigMaps
are read as inputs too.
*/}}
{{- define "gantry.rules.fleet" -}}
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: [""]
  resources: ["services", "configmaps", "serviceaccounts"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["", "events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* The MutatingWebhookConfiguration of sidecar injection. */}}
{{- define "gantry.webhookName" -}}
{{- printf "%s-inject" (include "gantry.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
