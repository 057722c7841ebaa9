#!/usr/bin/env bash
# Builds one image with buildah and loads it into a Kubernetes node's containerd (no registry, no
# docker daemon): the shared recipe of skaffold's `containerd` profile (custom builder) and the
# Tiltfile's custom_build on containerd clusters (k3s, k0s, kubeadm nodes, the kube-lab).
#
# The image to build, from whichever tool runs the script:
#   IMAGE          skaffold's custom builder (with PUSH_IMAGE and BUILD_CONTEXT)
#   EXPECTED_REF   Tilt's custom_build
# Settings (environment, with defaults):
#   BUILD_CONTEXT        .                directory buildah builds (skaffold sets the artifact's context)
#   DOCKERFILE           Dockerfile       relative to BUILD_CONTEXT
#   BUILD_TARGET         (none)           Dockerfile stage (--target), set per artifact in its buildCommand
#   BUILDAH              buildah
#   BUILDAH_FLAGS        --layers         extra `buildah bud` flags, split on spaces (the kube-lab adds
#                                         --network host --pull=never and its CA mounts, see docs/kubernetes.md)
#   CTR                  ctr              the containerd client; `k3s ctr` on k3s, `ssh NODE sudo ctr` for a
#                                         node that is not this machine (the image goes to it on stdin)
#   CONTAINERD_ADDRESS   (ctr's default, /run/containerd/containerd.sock)  e.g. /run/k3s/containerd/containerd.sock
#   CONTAINERD_NAMESPACE k8s.io           the namespace the kubelet's CRI reads images from
#   PUSH_IMAGE=true      push to the image's registry with `buildah push` instead of loading it (skaffold's --push)
set -euo pipefail

ref=${IMAGE:-${EXPECTED_REF:-}}
[ -n "$ref" ] || { echo "build-into-containerd: IMAGE (skaffold) or EXPECTED_REF (Tilt) must name the image to build" >&2; exit 2; }
context=${BUILD_CONTEXT:-.}
dockerfile=${DOCKERFILE:-Dockerfile}
buildah=${BUILDAH:-buildah}
read -r -a ctr <<<"${CTR:-ctr}"
namespace=${CONTAINERD_NAMESPACE:-k8s.io}
read -r -a bud_flags <<<"${BUILDAH_FLAGS:---layers}"
say() { echo "[build-into-containerd $(date -u +%T)] $*" >&2; }

# The kubelet asks containerd for `docker.io/library/NAME:TAG` when a pod says `NAME:TAG`; buildah
# would store a bare name as `localhost/NAME:TAG`, which no pod would ever match.
normalize() {
  local name=$1 first=${1%%/*}
  if [ "$first" = "$name" ]; then echo "docker.io/library/$name"
  elif [[ $first == *.* || $first == *:* || $first == localhost ]]; then echo "$name"
  else echo "docker.io/$name"; fi
}
image=$(normalize "$ref")

t0=$(date +%s)
say "buildah bud -t $image -f $dockerfile${BUILD_TARGET:+ --target $BUILD_TARGET} ${bud_flags[*]} $context"
"$buildah" bud --format docker -t "$image" -f "$context/$dockerfile" ${BUILD_TARGET:+--target "$BUILD_TARGET"} "${bud_flags[@]}" "$context" >&2
say "built in $(($(date +%s) - t0)) s"

if [ "${PUSH_IMAGE:-false}" = true ]; then
  "$buildah" push "$image" "docker://$image" >&2
  say "pushed $image"
  exit 0
fi

ctr_args=(${CONTAINERD_ADDRESS:+-a "$CONTAINERD_ADDRESS"} -n "$namespace")
archive=$(mktemp --suffix .tar)
trap 'rm -f "$archive"' EXIT
t1=$(date +%s)
"$buildah" push -q "$image" "docker-archive:$archive:$image" >/dev/null
"${ctr[@]}" "${ctr_args[@]}" images import - <"$archive" >&2
# skaffold (push false) deploys the image under `REPO:<image ID>`, the tag it gives every image
# built without a registry so that a rebuild always changes the pod spec; it tags its docker API
# (podman's, over the same storage as buildah) but cannot know about containerd, so that tag is
# loaded here too. Tilt deploys $EXPECTED_REF as it is.
if [ -n "${IMAGE:-}" ] && [ "${PUSH_IMAGE:-}" = false ]; then
  id=$("$buildah" inspect --type image --format '{{.FromImageID}}' "$image")
  "${ctr[@]}" "${ctr_args[@]}" images tag --force "$image" "${image%:*}:$id" >/dev/null
  say "loaded $image and ${image%:*}:$id into containerd ($namespace) in $(($(date +%s) - t1)) s"
else
  say "loaded $image into containerd ($namespace) in $(($(date +%s) - t1)) s"
fi
