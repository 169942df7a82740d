#!/bin/sh
# Deployment hook called by the deploy jobs. Inputs: ENVIRONMENT, IMAGE, optional ACTION=stop.
# Replace the body with your deployment mechanism (helm upgrade, kubectl apply, ArgoCD sync, ...).
set -eu
: "${ENVIRONMENT:?ENVIRONMENT is required}"
: "${IMAGE:?IMAGE is required}"
ACTION="${ACTION:-deploy}"

echo "==> ${ACTION} {{ project_name }} (${IMAGE}) to ${ENVIRONMENT}"
case "$ACTION" in
  deploy)
    # Example with Helm:
    # helm upgrade --install "{{ project_name }}-${ENVIRONMENT}" ./chart \
    #   --namespace "{{ project_name }}-${ENVIRONMENT}" --create-namespace \
    #   --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" --wait --timeout 5m
    ;;
  stop)
    # helm uninstall "{{ project_name }}-${ENVIRONMENT}" --namespace "{{ project_name }}-${ENVIRONMENT}"
    ;;
  *)
    echo "unknown ACTION ${ACTION}" >&2
    exit 2
    ;;
esac
