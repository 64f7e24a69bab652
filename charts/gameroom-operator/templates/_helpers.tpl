{{/* Names, labels and derived settings shared by the templates. */}}

{{- define "gameroom-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gameroom-operator.fullname" -}}
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
Selector labels. app.kubernetes.io/name is fixed: every room's NetworkPolicy admits Pods
labelled app.kubernetes.io/name=gameroom-operator to its admin port.
*/}}
{{- define "gameroom-operator.selectorLabels" -}}
app.kubernetes.io/name: gameroom-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gameroom-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "gameroom-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: drawgame
app.kubernetes.io/component: operator
{{- end }}

{{- define "gameroom-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gameroom-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The operator's image: repository@digest, else repository:tag (tag defaults to appVersion). */}}
{{- define "gameroom-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "gameroom-operator.gameServerImage" -}}
{{- default (include "gameroom-operator.image" .) .Values.gameServer.image }}
{{- end }}

{{- define "gameroom-operator.operatorNamespace" -}}
{{- default .Release.Namespace .Values.operatorNamespace }}
{{- end }}

{{- define "gameroom-operator.peeringName" -}}
{{- default (include "gameroom-operator.fullname" .) .Values.operator.peeringName }}
{{- end }}

{{/* "true" when several replicas elect an active one through Kopf peering. */}}
{{- define "gameroom-operator.peering" -}}
{{- if gt (int .Values.replicaCount) 1 }}true{{ end }}
{{- end }}

{{- define "gameroom-operator.testNamespace" -}}
{{- if .Values.helmTest.namespace }}
{{- .Values.helmTest.namespace }}
{{- else if .Values.watchNamespaces }}
{{- first .Values.watchNamespaces }}
{{- else }}
{{- .Release.Namespace }}
{{- end }}
{{- end }}

{{/*
The rules the operator needs in every namespace whose rooms it runs: what its code calls
(operator/gameroom_operator/controller.py, informer.py) and what Kopf calls for the rooms.
No wildcard; each rule says why. Used by the ClusterRole (all namespaces) and by the Role
of each watched namespace.
*/}}
{{- define "gameroom-operator.roomRules" -}}
# GameRooms: Kopf lists and watches them (one event per room change) and patches a room
# only to remove its own finalizers and annotations left by earlier operator versions; the
# operator patches a room to add and remove its final-backup finalizer (spec.backup.onDelete)
# and its close-room finalizer (a deleted room's players are told it is gone before its Pod goes).
# Read one room (get) before patching its finalizers: their list and the resourceVersion
# that makes the patch fail on a concurrent change (backups.py). A disaster-recovery drill
# (spec.backup.drill, drills.py) creates a scratch room, a clone of the room's backup, and
# deletes it when the drill ends.
- apiGroups: [drawgame.dev]
  resources: [gamerooms]
  verbs: [get, list, watch, patch, create, delete]
# The room's status (phase, conditions, players, health) is written on the subresource.
- apiGroups: [drawgame.dev]
  resources: [gamerooms/status]
  verbs: [patch]
# The room's config, Services and data volume: read to compare, created when missing,
# patched when they drift, listed and watched (by label) to put back deleted ones at once.
# Never deleted by the operator: owner references remove them with the room.
- apiGroups: [""]
  resources: [configmaps, services, persistentvolumeclaims]
  verbs: [get, list, watch, create, patch]
# The room's NetworkPolicy (admin port for the operator only), handled as above.
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch, create, patch]
# The optional Ingress, as above, plus delete: removing spec.expose.ingress removes it.
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [get, list, watch, create, patch, delete]
# The room's Deployment: as above; its watch feeds the room's status and repairs edits.
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch]
# The room's revisions (spec.rollout): one ControllerRevision per image and settings the
# room ran, listed (by label) at start, created for a new one, patched with its outcome
# and number, deleted beyond spec.rollout.revisionHistoryLimit.
- apiGroups: [apps]
  resources: [controllerrevisions]
  verbs: [list, create, patch, delete]
# The admin-token Secret: read (the token for the admin API), created once, patched back
# when edited. No list or watch: that would expose every Secret of the namespace.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, create, patch]
# The rooms' Pods: listed and watched (by label) for readiness, pod IP and start failures.
# Never deleted: auto-heal restarts a room through its Deployment (restartedAt), so the old
# Pod stops before the new one starts.
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
# The rooms' Jobs (backups, restores, smoke tests): listed and watched for their results;
# created for a restore (spec.restore), a deleted room's final backup and each update's
# smoke test (spec.rollout); patched to record
# a finished Job's result on it (read once, reported once).
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, patch]
# The room's backup CronJob (spec.backup): read to compare, created, patched on drift,
# watched to put it back, deleted when spec.backup.enabled goes false.
- apiGroups: [batch]
  resources: [cronjobs]
  verbs: [get, list, watch, create, patch, delete]
# A finished backup or restore Job's Pod log: its last line is the Job's JSON result, where
# the runtime keeps no termination message.
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
# Events on rooms (Created, SettingsApplied, Maintenance*, failures), posted by the
# operator and by Kopf.
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}
