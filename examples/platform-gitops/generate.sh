#!/usr/bin/env bash
# Generates the platform-gitops example: a central GitOps repository for an
# organisation with many teams and applications, rendered by Argo CD through
# the krm-promote plugin.
#
#   examples/platform-gitops/generate.sh [--apps N] [DEST]
#
# Writes N applications (default 8; the committed example) into DEST (default:
# this directory), replacing DEST's apps/, values/ and argocd/ trees. The
# output depends only on N, so the committed tree is checked against a fresh
# run (tests/integration/platform.rs) and the benchmarks generate 240 apps
# (host/benches/bench.rs, section 6).
#
# Layout (see README.md):
#   apps/<team>/<app>/base/          Deployment, Service, HPA; 3scale Backend + Product for API apps
#   values/<env>/<team>/<app>/       kustomization.yaml (namespace, replicas) + krm-promote.yaml
#   argocd/projects/<team>.yaml      one AppProject per team
#   argocd/applications/platform.yaml  an ApplicationSet over values/*/*/* (git directory generator)
#   argocd/root.yaml                 the app-of-apps Application for argocd/
set -euo pipefail

apps=8
dest=$(cd "$(dirname "$0")" && pwd)
while [ $# -gt 0 ]; do
	case $1 in
	--apps)
		apps=$2
		shift 2
		;;
	-h | --help)
		sed -n '2,20p' "$0"
		exit 0
		;;
	-*)
		echo "generate.sh: unknown option $1" >&2
		exit 2
		;;
	*)
		dest=$1
		shift
		;;
	esac
done
case $apps in '' | *[!0-9]*)
	echo "generate.sh: --apps needs a number, got '$apps'" >&2
	exit 2
	;;
esac

teams=(payments orders catalog identity search shipping billing notifications)
envs=(dev staging prod)
registry=ghcr.io/example-org

mkdir -p "$dest"
rm -rf "$dest/apps" "$dest/values" "$dest/argocd"
mkdir -p "$dest/argocd/projects" "$dest/argocd/applications"

for team in "${teams[@]}"; do
	cat >"$dest/argocd/projects/$team.yaml" <<YAML
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: $team
  namespace: argocd
spec:
  description: Applications of the $team team
  sourceRepos:
    - https://git.example.com/platform/gitops.git
  destinations:
    - server: https://kubernetes.default.svc
      namespace: $team-dev
    - server: https://kubernetes.default.svc
      namespace: $team-staging
    - server: https://kubernetes.default.svc
      namespace: $team-prod
  namespaceResourceWhitelist:
    - {group: apps, kind: Deployment}
    - {group: "", kind: Service}
    - {group: autoscaling, kind: HorizontalPodAutoscaler}
    - {group: capabilities.3scale.net, kind: Backend}
    - {group: capabilities.3scale.net, kind: Product}
    - {group: capabilities.3scale.net, kind: ProxyConfigPromote}
YAML
done

cat >"$dest/argocd/applications/platform.yaml" <<'YAML'
# One Application per values/<env>/<team>/<app> directory, rendered by the
# krm-promote plugin (examples/argocd/plugin.yaml).
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: platform
  namespace: argocd
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
    - git:
        repoURL: https://git.example.com/platform/gitops.git
        revision: main
        directories:
          - path: values/*/*/*
  template:
    metadata:
      name: "{{index .path.segments 3}}-{{index .path.segments 1}}"
      labels:
        team: "{{index .path.segments 2}}"
        environment: "{{index .path.segments 1}}"
    spec:
      project: "{{index .path.segments 2}}"
      source:
        repoURL: https://git.example.com/platform/gitops.git
        targetRevision: main
        path: "{{.path.path}}"
        plugin:
          name: krm-promote-v1
      destination:
        server: https://kubernetes.default.svc
        namespace: "{{index .path.segments 2}}-{{index .path.segments 1}}"
      syncPolicy:
        automated: {prune: true, selfHeal: true}
YAML

cat >"$dest/argocd/root.yaml" <<'YAML'
# The app of apps: Argo CD manages the projects and the ApplicationSet from
# this repository (a plain directory source; no plugin).
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: platform-root
  namespace: argocd
spec:
  project: default
  source:
    repoURL: https://git.example.com/platform/gitops.git
    targetRevision: main
    path: argocd
    directory:
      recurse: true
      exclude: root.yaml
  destination:
    server: https://kubernetes.default.svc
    namespace: argocd
  syncPolicy:
    automated: {prune: true, selfHeal: true}
YAML

for ((i = 1; i <= apps; i++)); do
	team=${teams[$(((i - 1) % ${#teams[@]}))]}
	app=$(printf '%s-svc-%03d' "$team" "$i")
	image="$registry/$app"
	# Every fourth application is an API published through 3scale.
	api=$((i % 4 == 1))
	base="$dest/apps/$team/$app/base"
	mkdir -p "$base"
	{
		echo "apiVersion: kustomize.config.k8s.io/v1beta1"
		echo "kind: Kustomization"
		echo "labels:"
		echo "  - pairs:"
		echo "      app.kubernetes.io/part-of: $team"
		echo "resources:"
		echo "  - deployment.yaml"
		echo "  - service.yaml"
		echo "  - hpa.yaml"
		if [ "$api" = 1 ]; then
			echo "  - backend.yaml"
			echo "  - product.yaml"
		fi
	} >"$base/kustomization.yaml"
	cat >"$base/deployment.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $app
  labels:
    app.kubernetes.io/name: $app
spec:
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: $app
  template:
    metadata:
      labels:
        app.kubernetes.io/name: $app
    spec:
      containers:
        - name: app
          image: $image:1.0.0
          ports:
            - containerPort: 8080
          env:
            - name: TEAM
              value: $team
          resources:
            requests: {cpu: 100m, memory: 128Mi}
            limits: {memory: 256Mi}
          readinessProbe:
            httpGet: {path: /healthz, port: 8080}
        - name: metrics
          image: docker.io/prom/statsd-exporter:v0.27.1
YAML
	cat >"$base/service.yaml" <<YAML
apiVersion: v1
kind: Service
metadata:
  name: $app
spec:
  selector:
    app.kubernetes.io/name: $app
  ports:
    - port: 80
      targetPort: 8080
YAML
	cat >"$base/hpa.yaml" <<YAML
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: $app
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: $app}
  minReplicas: 1
  maxReplicas: 10
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
YAML
	if [ "$api" = 1 ]; then
		system=${app//-/_}
		cat >"$base/backend.yaml" <<YAML
apiVersion: capabilities.3scale.net/v1beta1
kind: Backend
metadata:
  name: $app-backend
spec:
  name: $app backend
  systemName: ${system}_backend
  privateBaseURL: http://$app.svc.cluster.local:80
  mappingRules:
    - httpMethod: GET
      pattern: /v1/items$
      metricMethodRef: hits
      increment: 1
    - httpMethod: POST
      pattern: /v1/items$
      metricMethodRef: hits
      increment: 1
YAML
		cat >"$base/product.yaml" <<YAML
apiVersion: capabilities.3scale.net/v1beta1
kind: Product
metadata:
  name: $app
spec:
  name: $app
  systemName: $system
  deployment:
    apicastHosted:
      authentication:
        userkey:
          authUserKey: user_key
  backendUsages:
    ${system}_backend:
      path: /
  policies:
    - name: apicast
      version: builtin
      enabled: true
      configuration: {}
  applicationPlans:
    basic:
      name: Basic
      limits:
        - period: minute
          value: 100
          metricMethodRef: {systemName: hits, backend: ${system}_backend}
YAML
	fi
	for env in "${envs[@]}"; do
		dir="$dest/values/$env/$team/$app"
		mkdir -p "$dir"
		case $env in
		dev) replicas=1 tag="1.$((i % 5 + 1)).0" ;;
		staging) replicas=2 tag="1.$((i % 5)).0" ;;
		prod) replicas=3 tag="1.$((i % 5)).0" ;;
		esac
		cat >"$dir/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: $team-$env
resources:
  - ../../../../apps/$team/$app/base
replicas:
  - name: $app
    count: $replicas
YAML
		{
			echo "# krm-promote's configuration for $app in $env (read by \`krm-promote generate\`)."
			echo "apiVersion: fn.krm-promote.dev/v1alpha1"
			echo "kind: KrmPromote"
			echo "metadata:"
			echo "  name: promote"
			echo "spec:"
			echo "  environment: $env"
			echo "  images:"
			echo "    - $image:$tag"
			if [ "$env" = prod ]; then
				echo "  productionEnvironments: [prod]"
				echo "  imagePolicies:"
				echo "    prod:"
				echo "      forbidMutableTags: true"
				echo "      allowedRegistries: [$registry, docker.io/prom]"
			fi
		} >"$dir/krm-promote.yaml"
	done
done
