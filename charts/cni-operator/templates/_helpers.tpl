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

{{/* The ClusterNetwork CRD's name (crds/clusternetworks.yaml, generated from the API). */}}
{{- define "cni-operator.crdName" -}}
clusternetworks.cni-operator.io
{{- end -}}

{{/* The RemoteClusterNetwork CRD's name (crds/remoteclusternetworks.yaml), installed by a fleet release. */}}
{{- define "cni-operator.remoteCrdName" -}}
remoteclusternetworks.cni-operator.io
{{- end -}}

{{/*
"true" when the chart talks to a cluster (helm install/upgrade), "" for `helm template` and client dry runs, where
lookup returns nothing: kube-system exists on every cluster.
*/}}
{{- define "cni-operator.connected" -}}
{{- if lookup "v1" "Namespace" "" "kube-system" }}true{{ end -}}
{{- end -}}

{{/*
Fails the render, with the commands that fix it, when a CRD of the chart exists and is not this release's: Helm
refuses to take over an object without its ownership metadata, and its own error names the missing keys but not
what to run. This is the case of every release of chart 0.1.0, which installed the CRD from crds/ (so `helm
upgrade` never changed it), and of a CRD applied with kubectl from the bundles.
*/}}
{{- define "cni-operator.crdOwnershipGuard" -}}
{{- include "cni-operator.crdOwnershipGuardFor" (list . (include "cni-operator.crdName" .)) -}}
{{- end -}}
{{- define "cni-operator.remoteCrdOwnershipGuard" -}}
{{- include "cni-operator.crdOwnershipGuardFor" (list . (include "cni-operator.remoteCrdName" .)) -}}
{{- end -}}
{{/* (list ROOT CRD-NAME): the guard for that CRD. */}}
{{- define "cni-operator.crdOwnershipGuardFor" -}}
{{- $name := index . 1 -}}
{{- with index . 0 -}}
{{- $crd := lookup "apiextensions.k8s.io/v1" "CustomResourceDefinition" "" $name -}}
{{- if $crd -}}
{{- $labels := $crd.metadata.labels | default dict -}}
{{- $annotations := $crd.metadata.annotations | default dict -}}
{{- $owner := get $annotations "meta.helm.sh/release-name" -}}
{{- $ownerNamespace := get $annotations "meta.helm.sh/release-namespace" -}}
{{- $helm := eq (get $labels "app.kubernetes.io/managed-by") "Helm" -}}
{{- if and $helm $owner (or (ne $owner .Release.Name) (ne $ownerNamespace .Release.Namespace)) -}}
{{- fail (printf "crds.enabled=true, but the CRD %s belongs to the Helm release %s in namespace %s, and one release owns it. Install this release with --set crds.enabled=false (it then uses that CRD as it is)." $name $owner $ownerNamespace) -}}
{{- else if not (and $helm $owner) -}}
{{- fail (printf `crds.enabled=true, but the CRD %[1]s on this cluster was not created by Helm for this release (an earlier chart installed it from crds/, which helm upgrade never updates, or kubectl applied it from manifests/install*.yaml), and Helm does not take over such an object. Hand it to this release once, then run the same helm command again (it then updates the CRD):
  kubectl label crd %[1]s app.kubernetes.io/managed-by=Helm --overwrite
  kubectl annotate crd %[1]s meta.helm.sh/release-name=%[2]s meta.helm.sh/release-namespace=%[3]s --overwrite
Or leave the CRD to kubectl with --set crds.enabled=false (docs/install.md, "Upgrading").` $name .Release.Name .Release.Namespace) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
"true" when the ClusterNetwork object must be created by a post-install hook: on a cluster without its CRD, the CRD
is in this very release, and Helm maps every object of a release to an API type before it creates any, so the
object cannot be part of the release's manifest. The hook runs once the CRD exists; the object carries the
release's ownership metadata, so the next upgrade takes it into the release.
*/}}
{{- define "cni-operator.clusterNetworkViaHook" -}}
{{- if and (include "cni-operator.crdsEnabled" .) (include "cni-operator.connected" .) -}}
{{- if not (lookup "apiextensions.k8s.io/v1" "CustomResourceDefinition" "" (include "cni-operator.crdName" .)) -}}
true
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
crds.enabled and crds.keep, "true" or "". Both default to true also when `crds` is missing from the values: an
upgrade with --reuse-values from chart 0.1.0 reuses that release's values, which have no `crds` key.
*/}}
{{- define "cni-operator.crdsEnabled" -}}
{{- $crds := .Values.crds | default dict -}}
{{- if ternary $crds.enabled true (hasKey $crds "enabled") }}true{{ end -}}
{{- end -}}
{{- define "cni-operator.crdsKeep" -}}
{{- $crds := .Values.crds | default dict -}}
{{- if ternary $crds.keep true (hasKey $crds "keep") }}true{{ end -}}
{{- end -}}

{{/*
The live ClusterNetwork `default` as JSON when this upgrade is the one that takes it into the release: a post-install
hook created it (cni-operator.clusterNetworkViaHook) at the revision before this one. Helm applies no change to an
object it takes over (its patch is the new manifest against itself), so that upgrade records the live spec, and the
next one applies clusterNetwork.spec against it. Empty otherwise.
*/}}
{{- define "cni-operator.clusterNetworkTakeover" -}}
{{- if and .Release.IsUpgrade (include "cni-operator.connected" .) -}}
{{- /* Only where the CRD exists: lookup of a kind the API server does not serve is an error, not empty. */ -}}
{{- if lookup "apiextensions.k8s.io/v1" "CustomResourceDefinition" "" (include "cni-operator.crdName" .) -}}
{{- $live := lookup "cni-operator.io/v1alpha1" "ClusterNetwork" "" "default" | default dict -}}
{{- $annotations := ($live.metadata | default dict).annotations | default dict -}}
{{- $createdAt := get $annotations "cni-operator.io/created-by-hook-at-revision" -}}
{{- if and $createdAt (eq (atoi $createdAt) (sub .Release.Revision 1 | int)) -}}
{{- toJson $live -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
fleet.enabled, "true" or "": false also when `fleet` is missing from the values (an upgrade with --reuse-values from
a chart before fleet mode reuses values without the key).
*/}}
{{- define "cni-operator.fleetEnabled" -}}
{{- if (.Values.fleet | default dict).enabled }}true{{ end -}}
{{- end -}}

{{/* fleet.namespaces as a JSON list (empty: every namespace). */}}
{{- define "cni-operator.fleetNamespaces" -}}
{{- (.Values.fleet | default dict).namespaces | default list | toJson -}}
{{- end -}}

{{/*
The Lease that lets one fleet operator process act: in the release namespace (the operator's --lease-namespace
defaults to POD_NAMESPACE), under a name of its own, so it never meets an in-cluster operator's kube-system Lease.
*/}}
{{- define "cni-operator.fleetLeaseName" -}}
cni-operator-fleet
{{- end -}}

{{/*
The rules of a fleet operator where it serves RemoteClusterNetworks: a ClusterRole (fleet.namespaces empty) or a Role
in each listed namespace (rbac-fleet.yaml). Writes to RemoteClusterNetworks and Events cannot be narrowed by name:
the names are their writers', unknown when the chart is installed.
*/}}
{{- define "cni-operator.fleetRules" -}}
# Read the RemoteClusterNetworks (the operator's input, one per target cluster) and watch them for changes.
- apiGroups: ["cni-operator.io"]
  resources: ["remoteclusternetworks"]
  verbs: ["get", "list", "watch"]
# Add and remove the operator's finalizer (a merge patch of metadata.finalizers), so deletionPolicy: Delete can
# clean up the target before the object goes. Any name: RemoteClusterNetworks are named by whoever creates them.
- apiGroups: ["cni-operator.io"]
  resources: ["remoteclusternetworks"]
  verbs: ["patch"]
# Report phase, conditions, health, Reachable and CredentialsValid in each RemoteClusterNetwork's status.
- apiGroups: ["cni-operator.io"]
  resources: ["remoteclusternetworks/status"]
  verbs: ["patch"]
# Post Events about a RemoteClusterNetwork next to it (install, drift reverted, degraded, unreachable); patch
# bumps the count of a repeated one. Events are named by their poster, so not by resourceNames.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
# Read the target's kubeconfig Secret that a RemoteClusterNetwork names (spec.target). `get` only, by the name the
# object gives: no list and no watch, so the operator never sees a Secret nobody pointed it at. It reads the Secret
# again when it (re)connects, which is how a rotated kubeconfig is picked up.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
# spec.target.clusterRef: read the Cluster API Cluster it names (its kubeconfig is then the Secret <name>-kubeconfig).
- apiGroups: ["cluster.x-k8s.io"]
  resources: ["clusters"]
  verbs: ["get"]
{{- end -}}
