// Deployed in the workspace's resource group (new or existing workspace): the identity-based
// datastore for the inference container, the app's role on the workspace, and the workspace's
// Event Grid system topic (its subscriptions come after the code: infra/subscriptions).
param workspaceName string
param systemTopicName string
param inferenceStorageAccountName string
param inferenceStorageResourceGroupName string
param inferenceContainerName string
@description('INFERENCE_DATASTORE: the app references CSV batches in place as azureml://datastores/<name>/paths/<blob>.')
param inferenceDatastoreName string
param identityPrincipalId string
@description('The app identity; the system topic uses it to write dead-lettered events.')
param identityResourceId string

var roleIds = {
  azureMLDataScientist: 'f6c7c914-8db3-469d-8ca1-694a8f32e121'
}

resource workspace 'Microsoft.MachineLearningServices/workspaces@2024-10-01' existing = {
  name: workspaceName
}

// Identity-based (no stored credentials): whoever reads it uses their own identity, the app its
// managed identity, Azure ML services the workspace identity (Storage Blob Data Reader, rbac.bicep).
resource inferenceDatastore 'Microsoft.MachineLearningServices/workspaces/datastores@2024-10-01' = {
  parent: workspace
  name: inferenceDatastoreName
  properties: {
    datastoreType: 'AzureBlob'
    description: 'Inference files ingested by Monitor Autopilot'
    accountName: inferenceStorageAccountName
    containerName: inferenceContainerName
    endpoint: environment().suffixes.storage
    protocol: 'https'
    subscriptionId: subscription().subscriptionId
    resourceGroup: inferenceStorageResourceGroupName
    serviceDataAccessAuthIdentity: 'WorkspaceSystemAssignedIdentity'
    credentials: {
      credentialsType: 'None'
    }
  }
}

// Data assets, models, monitor schedules and retraining jobs.
resource workspaceDataScientist 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, identityPrincipalId, roleIds.azureMLDataScientist)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.azureMLDataScientist)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: systemTopicName
  location: workspace.location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityResourceId}': {}
    }
  }
  properties: {
    source: workspace.id
    topicType: 'Microsoft.MachineLearningServices.Workspaces'
  }
}

output workspacePrincipalId string = workspace.identity.principalId
output systemTopicName string = systemTopic.name
