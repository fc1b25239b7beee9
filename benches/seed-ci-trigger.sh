#!/usr/bin/env bash
# The seed design's CI trigger job: the baseline that krm-promote's trigger
# computation is benchmarked against (host/benches/bench.rs, section 5, and
# BENCHMARKS.md). krm-promote does not use it.
#
# What the seed's CI job did after every merge: `git diff` the two revisions,
# and for each environment and each Product in it, stamp the commit SHA into
# the `gitops.3scale.net/trigger` annotation of the Product's promotion CR when
# the Product's file, or the file of a Backend it uses, changed. This version
# is faithful to that approach (git diff + one yq process per file question)
# but corrects the seed's matching bug and is not deliberately slow:
#   - a Backend is matched by the key of `spec.backendUsages` against the
#     Backend's `spec.systemName` (the seed matched `.value.backend`, a field
#     that does not exist);
#   - each environment's systemName -> file map is built once (one yq call per
#     Backend), not once per Product.
#
# Usage (at the root of a GitOps repository laid out as
# environments/<env>/{products,backends,promotions}/*.yaml):
#   seed-ci-trigger.sh BASE_REV [HEAD_REV]
# Prints one line per re-stamped promotion: <env>/<product>.
# Needs git and a jq-syntax yq (Debian's `yq` package, kislyuk/yq).
set -euo pipefail

base=$1
head=${2:-HEAD}
sha=$(git rev-parse "$head")
changed=$(git diff --name-only "$base" "$head")

is_changed() {
	grep -qxF -- "$1" <<<"$changed"
}

for envdir in environments/*/; do
	env=$(basename "$envdir")
	declare -A backend_file=()
	for backend in "$envdir"backends/*.yaml; do
		[ -e "$backend" ] || continue
		system_name=$(yq -r 'select(.kind == "Backend") | .spec.systemName' "$backend")
		[ -n "$system_name" ] && backend_file[$system_name]=$backend
	done
	for product in "$envdir"products/*.yaml; do
		[ -e "$product" ] || continue
		# One yq call per Product: its name and the systemNames of its backends.
		mapfile -t facts < <(yq -r 'select(.kind == "Product") | .metadata.name, (.spec.backendUsages // {} | keys[])' "$product")
		[ "${#facts[@]}" -gt 0 ] || continue
		name=${facts[0]}
		trigger=no
		if is_changed "$product"; then
			trigger=yes
		fi
		for key in "${facts[@]:1}"; do
			file=${backend_file[$key]:-}
			if [ -n "$file" ] && is_changed "$file"; then
				trigger=yes
			fi
		done
		if [ "$trigger" = yes ]; then
			yq -y -i --arg sha "$sha" '.metadata.annotations["gitops.3scale.net/trigger"] = $sha' \
				"${envdir}promotions/$name.yaml"
			echo "$env/$name"
		fi
	done
	unset backend_file
done
