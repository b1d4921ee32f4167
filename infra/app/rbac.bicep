// Role assignments in the app resource group, as in the samples' app/rbac.bicep. The app's
// identity gets data roles only; nothing here can change the resources themselves.
param identityPrincipalId string
param hostStorageAccountName string
param inferenceStorageAccountName string
param applicationInsightsName string
param customTopicName string
@description('System identity of the Azure ML workspace (reads the identity-based inference datastore).')
param workspacePrincipalId string
@description('The person running azd; empty for none.')
param userPrincipalId string = ''

// Built-in role definition ids (the same in every tenant).
var roleIds = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  eventGridDataSender: 'd5a91429-5739-47e2-a06b-3470a27159e7'
}

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageAccountName
}

resource inferenceStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: inferenceStorageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource customTopic 'Microsoft.EventGrid/topics@2025-02-15' existing = {
  name: customTopicName
}

// Host account: the Functions host (deployment package, locks, blob receipts), artifacts and, through
// the same identity on the system topics, dead-lettered events.
resource hostBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, identityPrincipalId, roleIds.storageBlobDataOwner)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataOwner)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Host account: the retrain-requests queue and its poison queue.
resource hostQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, identityPrincipalId, roleIds.storageQueueDataContributor)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageQueueDataContributor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Host account: the ingestion ledger and the state tables (<prefix>Ingestions, Counters, State).
resource hostTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, identityPrincipalId, roleIds.storageTableDataContributor)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageTableDataContributor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Inference account: read the files, write quarantine records.
resource inferenceBlobContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(inferenceStorage.id, identityPrincipalId, roleIds.storageBlobDataContributor)
  scope: inferenceStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataContributor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Inference account: the blob trigger writes poison blobs to a queue on its connection's account.
resource inferenceQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(inferenceStorage.id, identityPrincipalId, roleIds.storageQueueDataContributor)
  scope: inferenceStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageQueueDataContributor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Inference account: Azure ML reads the identity-based datastore with the workspace identity.
resource workspaceInferenceReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(inferenceStorage.id, workspacePrincipalId, roleIds.storageBlobDataReader)
  scope: inferenceStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataReader)
    principalId: workspacePrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Application Insights with local auth off: telemetry with the identity.
resource appInsightsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, identityPrincipalId, roleIds.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.monitoringMetricsPublisher)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The custom topic (local auth off): the app publishes its CloudEvents with the identity.
resource customTopicSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(customTopic.id, identityPrincipalId, roleIds.eventGridDataSender)
  scope: customTopic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.eventGridDataSender)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The person running azd: upload inference files with `az storage blob upload --auth-mode login`.
resource userInferenceBlobContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(inferenceStorage.id, userPrincipalId, roleIds.storageBlobDataContributor)
  scope: inferenceStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataContributor)
    principalId: userPrincipalId
  }
}
