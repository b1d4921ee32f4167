// The Event Grid subscriptions to the Function App's extension webhooks. Not part of
// `azd provision`: the webhook URLs carry the extension system keys, which exist only once the
// code is deployed and the host has started. scripts/postdeploy.sh (.ps1) reads the keys with
// `az functionapp keys list` and deploys this file to the app resource group.
targetScope = 'resourceGroup'

@secure()
@description('systemKeys.eventgrid_extension of the Function App.')
param eventGridExtensionKey string

@secure()
@description('systemKeys.blobs_extension of the Function App.')
param blobsExtensionKey string

param functionAppHostname string
param inferenceSystemTopicName string
param inferenceContainerName string
param azuremlResourceGroup string
param azuremlSystemTopicName string
@description('RETRAIN_EXPERIMENT: RunCompleted events of this experiment finish retraining requests.')
param retrainExperiment string
@description('Also deliver the legacy v1 DatasetDriftDetected event.')
param subscribeDatasetDrift bool = true
@description('The app identity, set on both system topics; writes dead-lettered events.')
param identityResourceId string
param deadLetterStorageAccountId string
param deadLetterContainerName string
param maxDeliveryAttempts int = 30
param eventTimeToLiveInMinutes int = 1440

var retryPolicy = {
  maxDeliveryAttempts: maxDeliveryAttempts
  eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
}

var deadLetter = {
  identity: {
    type: 'UserAssigned'
    userAssignedIdentity: identityResourceId
  }
  deadLetterDestination: {
    endpointType: 'StorageBlob'
    properties: {
      resourceId: deadLetterStorageAccountId
      blobContainerName: deadLetterContainerName
    }
  }
}

resource inferenceSystemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: inferenceSystemTopicName
}

// New inference files -> the Event Grid-source blob trigger (the blobs extension webhook).
resource inferenceBlobCreated 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: inferenceSystemTopic
  name: 'ingest-inference-blob'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: 'https://${functionAppHostname}/runtime/webhooks/blobs?functionName=Host.Functions.ingest_inference_blob&code=${uriComponent(blobsExtensionKey)}'
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
      subjectBeginsWith: '/blobServices/default/containers/${inferenceContainerName}/'
    }
    eventDeliverySchema: 'EventGridSchema'
    retryPolicy: retryPolicy
    deadLetterWithResourceIdentity: deadLetter
  }
}

// Azure ML events live on the workspace's system topic, in the workspace's resource group.
module azureml 'azureml.bicep' = {
  name: 'azureml-event-subscriptions'
  scope: resourceGroup(azuremlResourceGroup)
  params: {
    eventGridExtensionKey: eventGridExtensionKey
    functionAppHostname: functionAppHostname
    systemTopicName: azuremlSystemTopicName
    retrainExperiment: retrainExperiment
    subscribeDatasetDrift: subscribeDatasetDrift
    retryPolicy: retryPolicy
    deadLetter: deadLetter
  }
}
