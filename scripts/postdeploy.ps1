# azd postdeploy hook (azure.yaml), Windows: the same as postdeploy.sh. Creates the Event Grid
# subscriptions (infra/subscriptions/main.bicep) once the code is deployed, because their webhook
# URLs carry the Functions extension system keys. Safe to run again.
$ErrorActionPreference = 'Stop'

foreach ($tool in @('az', 'azd')) {
    if (-not (Get-Command $tool -ErrorAction SilentlyContinue)) {
        Write-Error "$tool is not installed (infra/README.md, prerequisites)"
        exit 1
    }
}

# azd passes its environment to hooks; when run by hand, load it.
if (-not $env:AZURE_FUNCTION_APP_NAME) {
    foreach ($line in (& azd env get-values)) {
        if ($line -match '^([^=]+)=(.*)$') {
            [Environment]::SetEnvironmentVariable($matches[1], ($matches[2] -replace '^"|"$'))
        }
    }
}

az account show --subscription $env:AZURE_SUBSCRIPTION_ID --output none 2>$null
if ($LASTEXITCODE -ne 0) {
    Write-Error "the Azure CLI is not signed in to subscription $($env:AZURE_SUBSCRIPTION_ID): run az login"
    exit 1
}

# Wake the host (Flex Consumption scales to zero); the extensions create their keys at start.
try {
    Invoke-WebRequest -Uri "https://$($env:AZURE_FUNCTION_APP_HOSTNAME)/api/health" -TimeoutSec 120 -UseBasicParsing | Out-Null
} catch { }

function Get-SystemKey([string]$name) {
    $key = az functionapp keys list --subscription $env:AZURE_SUBSCRIPTION_ID `
        --resource-group $env:RESOURCE_GROUP --name $env:AZURE_FUNCTION_APP_NAME `
        --query "systemKeys.$name" --output tsv 2>$null
    if ($LASTEXITCODE -ne 0) { return '' }
    return "$key".Trim()
}

$attempt = 0
while ($true) {
    $eventGridKey = Get-SystemKey 'eventgrid_extension'
    $blobsKey = Get-SystemKey 'blobs_extension'
    if ($eventGridKey -and $blobsKey) { break }
    $attempt++
    if ($attempt -ge 30) {
        Write-Error 'the Function App has no eventgrid_extension/blobs_extension key after 5 minutes; check that the code deployed and the host started (App Insights, Log stream).'
        exit 1
    }
    Write-Host "Waiting for the Functions host to create its extension keys ($attempt/30)..."
    Start-Sleep -Seconds 10
}

# The keys go in a parameters file, not on the command line.
$paramsFile = New-TemporaryFile
try {
    @{
        contentVersion = '1.0.0.0'
        parameters     = @{
            eventGridExtensionKey = @{ value = $eventGridKey }
            blobsExtensionKey     = @{ value = $blobsKey }
        }
    } | ConvertTo-Json -Depth 4 | Set-Content -Path $paramsFile -Encoding utf8

    $subscribeDatasetDrift = if ($env:SUBSCRIBE_DATASET_DRIFT) { $env:SUBSCRIBE_DATASET_DRIFT } else { 'true' }

    Write-Host 'Creating the Event Grid subscriptions (infra/subscriptions/main.bicep)...'
    az deployment group create --subscription $env:AZURE_SUBSCRIPTION_ID `
        --resource-group $env:RESOURCE_GROUP `
        --name autopilot-event-subscriptions `
        --template-file infra/subscriptions/main.bicep `
        --parameters "@$paramsFile" `
        --parameters `
        functionAppHostname=$env:AZURE_FUNCTION_APP_HOSTNAME `
        inferenceSystemTopicName=$env:INFERENCE_SYSTEM_TOPIC_NAME `
        inferenceContainerName=$env:INFERENCE_CONTAINER_NAME `
        azuremlResourceGroup=$env:AZUREML_RESOURCE_GROUP `
        azuremlSystemTopicName=$env:AZUREML_SYSTEM_TOPIC_NAME `
        retrainExperiment=$env:RETRAIN_EXPERIMENT `
        subscribeDatasetDrift=$subscribeDatasetDrift `
        identityResourceId=$env:AZURE_IDENTITY_RESOURCE_ID `
        deadLetterStorageAccountId=$env:DEAD_LETTER_STORAGE_ACCOUNT_ID `
        deadLetterContainerName=$env:DEAD_LETTER_CONTAINER_NAME `
        --output none
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
} finally {
    Remove-Item -Path $paramsFile -Force -ErrorAction SilentlyContinue
}

Write-Host "Event Grid subscriptions created: BlobCreated on $($env:INFERENCE_CONTAINER_NAME) -> ingest_inference_blob;"
Write-Host "ModelRegistered -> on_model_registered; RunStatusChanged (threshold breached), RunCompleted"
Write-Host "($($env:RETRAIN_EXPERIMENT)) and DatasetDriftDetected -> on_azureml_run_event."
