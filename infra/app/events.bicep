// Event Grid topics made at provision time: the custom topic the app publishes its own CloudEvents
// to (AUTOPILOT_EVENTS_ENDPOINT), and the system topic on the inference account whose BlobCreated
// subscription (infra/subscriptions) feeds the blob trigger.
param location string = resourceGroup().location
param tags object = {}
param customTopicName string
param inferenceSystemTopicName string
param inferenceStorageAccountName string
@description('The app identity; the system topic uses it to write dead-lettered events.')
param identityResourceId string

resource inferenceStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: inferenceStorageAccountName
}

// Publishers authenticate with Microsoft Entra ID (EventGrid Data Sender, rbac.bicep); no keys.
resource customTopic 'Microsoft.EventGrid/topics@2025-02-15' = {
  name: customTopicName
  location: location
  tags: tags
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource inferenceSystemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: inferenceSystemTopicName
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityResourceId}': {}
    }
  }
  properties: {
    source: inferenceStorage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

output customTopicName string = customTopic.name
output customTopicEndpoint string = customTopic.properties.endpoint
output inferenceSystemTopicName string = inferenceSystemTopic.name
