{{/*
Names and labels shared by every template.
*/}}

{{/* The chart name, overridable. */}}
{{- define "cni-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The name of the release's objects. A release named cni-operator (the documented default) gives plain "cni-operator";
any other release name is prefixed, so two releases (e.g. in tests) never collide on cluster-scoped names.
*/}}
{{- define "cni-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "cni-operator.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels that select the operator's pods: must never change between upgrades. */}}
{{- define "cni-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cni-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels on every object the chart creates. */}}
{{- define "cni-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "cni-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: cni-operator
{{- end -}}

{{/* The operator's ServiceAccount. */}}
{{- define "cni-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cni-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* repository:tag, or repository@digest when a digest is pinned. */}}
{{- define "cni-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/*
Where the CNI lives: every object the operator renders is in kube-system (DESIGN.md), and kopf serves only that
namespace for namespaced resources, so the KopfPeering object lives there too. Not a value: the renderer has it fixed.
*/}}
{{- define "cni-operator.cniNamespace" -}}
kube-system
{{- end -}}

{{/*
The CNI providers the operator may install, as a JSON list: the one of clusterNetwork.spec.clusterType when it is set
(none for imported), otherwise every provider (files/cni-objects.yaml, generated from the catalog).
*/}}
{{- define "cni-operator.cniProviders" -}}
{{- $file := .Files.Get "files/cni-objects.yaml" | fromYaml -}}
{{- $clusterType := (.Values.clusterNetwork.spec | default dict).clusterType -}}
{{- if $clusterType -}}
{{- index $file.clusterTypes $clusterType | toJson -}}
{{- else -}}
{{- keys $file.providers | sortAlpha | toJson -}}
{{- end -}}
{{- end -}}

{{/* The object names the operator may write, per kind, for the providers above (files/cni-objects.yaml). */}}
{{- define "cni-operator.cniObjects" -}}
{{- $file := .Files.Get "files/cni-objects.yaml" | fromYaml -}}
{{- $merged := dict -}}
{{- range $provider := include "cni-operator.cniProviders" . | fromJsonArray -}}
{{- range $kind, $names := index $file.providers $provider -}}
{{- $_ := set $merged $kind (concat (get $merged $kind | default list) $names | uniq | sortAlpha) -}}
{{- end -}}
{{- end -}}
{{- toYaml $merged -}}
{{- end -}}

{{/*
The rules the CNI's roles grant, for the providers above (files/cni-rules.yaml): clusterRoleRules (the CNI's
ClusterRoles) and roleRules (its Roles in kube-system). Each rule carries `from`, which becomes its comment.
*/}}
{{- define "cni-operator.cniRules" -}}
{{- $file := .Files.Get "files/cni-rules.yaml" | fromYaml -}}
{{- $clusterRoleRules := list -}}
{{- $roleRules := list -}}
{{- range $provider := include "cni-operator.cniProviders" . | fromJsonArray -}}
{{- $rules := index $file.providers $provider -}}
{{- $clusterRoleRules = concat $clusterRoleRules ($rules.clusterRoleRules | default list) -}}
{{- $roleRules = concat $roleRules ($rules.roleRules | default list) -}}
{{- end -}}
{{- toYaml (dict "clusterRoleRules" $clusterRoleRules "roleRules" $roleRules) -}}
{{- end -}}

{{/*
A list of the CNI's rules (from cni-operator.cniRules) as RBAC rules, each under a comment naming the roles and
versions that grant it. A wildcard is the CNI's own (the API server lets the operator write a role only with rules
it holds), which is its justification.
*/}}
{{- define "cni-operator.cniRuleList" -}}
{{- range . }}
# The CNI's own right, from {{ .from }}.
{{- $wildUrl := false }}
{{- range .nonResourceURLs }}{{ if contains "*" . }}{{ $wildUrl = true }}{{ end }}{{ end }}
{{- if or (has "*" (.apiGroups | default list)) (has "*" (.resources | default list)) (has "*" .verbs) $wildUrl }}
# wildcard-justified: the CNI's own role grants exactly this, and the operator may write that role only holding it.
{{- end }}
{{- if .nonResourceURLs }}
- nonResourceURLs: {{ toJson .nonResourceURLs }}
{{- else }}
- apiGroups: {{ toJson .apiGroups }}
  resources: {{ toJson .resources }}
{{- end }}
  {{- with .resourceNames }}
  resourceNames: {{ toJson . }}
  {{- end }}
  verbs: {{ toJson .verbs }}
{{- end }}
{{- end -}}
