#!/bin/sh
# azd postdeploy hook (azure.yaml): create the Event Grid subscriptions, infra/subscriptions/main.bicep.
# Their webhook URLs carry the Functions extension system keys (eventgrid_extension,
# blobs_extension), which exist only once the code is deployed and the host has started, so this
# runs after `azd deploy` (as the Azure-Samples Event Grid blob quickstart's post-up script does).
# Safe to run again: the deployment updates the same subscriptions.
set -eu

for tool in az azd curl; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "error: $tool is not installed (infra/README.md, prerequisites)" >&2
    exit 1
  fi
done

# azd passes its environment to hooks; when run by hand, load it.
if [ -z "${AZURE_FUNCTION_APP_NAME:-}" ]; then
  while IFS='=' read -r key value; do
    [ -n "$key" ] || continue
    value=$(printf '%s' "$value" | sed 's/^"//; s/"$//')
    export "$key=$value"
  done <<ENV
$(azd env get-values)
ENV
fi

# Outputs of infra/main.bicep (and azd's own AZURE_SUBSCRIPTION_ID) this script needs.
for name in AZURE_SUBSCRIPTION_ID RESOURCE_GROUP AZURE_FUNCTION_APP_NAME AZURE_FUNCTION_APP_HOSTNAME \
  INFERENCE_SYSTEM_TOPIC_NAME INFERENCE_CONTAINER_NAME AZUREML_RESOURCE_GROUP AZUREML_SYSTEM_TOPIC_NAME \
  RETRAIN_EXPERIMENT AZURE_IDENTITY_RESOURCE_ID DEAD_LETTER_STORAGE_ACCOUNT_ID DEAD_LETTER_CONTAINER_NAME; do
  eval "value=\${$name:-}"
  if [ -z "$value" ]; then
    echo "error: $name is not set in the azd environment: run azd provision first" >&2
    exit 1
  fi
done

if ! az account show --subscription "$AZURE_SUBSCRIPTION_ID" >/dev/null 2>&1; then
  echo "error: the Azure CLI is not signed in to subscription $AZURE_SUBSCRIPTION_ID: run az login" >&2
  exit 1
fi

# Wake the host (Flex Consumption scales to zero); the extensions create their keys at start.
curl --silent --output /dev/null --max-time 120 "https://$AZURE_FUNCTION_APP_HOSTNAME/api/health" || true

system_key() {
  az functionapp keys list --subscription "$AZURE_SUBSCRIPTION_ID" \
    --resource-group "$RESOURCE_GROUP" --name "$AZURE_FUNCTION_APP_NAME" \
    --query "systemKeys.$1" --output tsv 2>/dev/null || true
}

attempt=0
while :; do
  eventgrid_key=$(system_key eventgrid_extension)
  blobs_key=$(system_key blobs_extension)
  if [ -n "$eventgrid_key" ] && [ -n "$blobs_key" ]; then
    break
  fi
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 30 ]; then
    echo "error: the Function App has no eventgrid_extension/blobs_extension key after 5 minutes;" >&2
    echo "       check that the code deployed and the host started (App Insights, Log stream)." >&2
    exit 1
  fi
  echo "Waiting for the Functions host to create its extension keys ($attempt/30)..."
  sleep 10
done

# The keys go in a parameters file only this user can read, not on the command line.
umask 077
params_file=$(mktemp)
trap 'rm -f "$params_file"' EXIT INT TERM
cat >"$params_file" <<JSON
{
  "contentVersion": "1.0.0.0",
  "parameters": {
    "eventGridExtensionKey": { "value": "$eventgrid_key" },
    "blobsExtensionKey": { "value": "$blobs_key" }
  }
}
JSON

echo "Creating the Event Grid subscriptions (infra/subscriptions/main.bicep)..."
az deployment group create --subscription "$AZURE_SUBSCRIPTION_ID" \
  --resource-group "$RESOURCE_GROUP" \
  --name autopilot-event-subscriptions \
  --template-file infra/subscriptions/main.bicep \
  --parameters @"$params_file" \
  --parameters \
    functionAppHostname="$AZURE_FUNCTION_APP_HOSTNAME" \
    inferenceSystemTopicName="$INFERENCE_SYSTEM_TOPIC_NAME" \
    inferenceContainerName="$INFERENCE_CONTAINER_NAME" \
    azuremlResourceGroup="$AZUREML_RESOURCE_GROUP" \
    azuremlSystemTopicName="$AZUREML_SYSTEM_TOPIC_NAME" \
    retrainExperiment="$RETRAIN_EXPERIMENT" \
    subscribeDatasetDrift="${SUBSCRIBE_DATASET_DRIFT:-true}" \
    identityResourceId="$AZURE_IDENTITY_RESOURCE_ID" \
    deadLetterStorageAccountId="$DEAD_LETTER_STORAGE_ACCOUNT_ID" \
    deadLetterContainerName="$DEAD_LETTER_CONTAINER_NAME" \
  --output none

echo "Event Grid subscriptions created: BlobCreated on $INFERENCE_CONTAINER_NAME -> ingest_inference_blob;"
echo "ModelRegistered -> on_model_registered; RunStatusChanged (threshold breached), RunCompleted"
echo "($RETRAIN_EXPERIMENT) and DatasetDriftDetected -> on_azureml_run_event."
