// The Flex Consumption Function App, as in the samples' app/processor.bicep (AVM web/site), with
// identity-based connections for both storage accounts.
param name string
param location string = resourceGroup().location
param tags object = {}
@description('azd service name (azure.yaml); azd finds the app by this tag.')
param serviceName string = 'autopilot'
param appServicePlanId string
param applicationInsightsName string
param runtimeName string
param runtimeVersion string
param instanceMemoryMB int = 2048
param maximumInstanceCount int = 100
param identityId string
param identityClientId string
param hostStorageAccountName string
param inferenceStorageAccountName string
param deploymentStorageContainerName string
@description('The app\'s own settings (see main.bicep).')
param appSettings object

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageAccountName
}

resource inferenceStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: inferenceStorageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Identity-based connections: the Functions host and the app read NAME__*ServiceUri with
// NAME__credential and NAME__clientId instead of a connection string in NAME.
var connectionSettings = {
  // Host storage: blobs (host, deployment, artifacts), queues (retraining), tables (ledger).
  AzureWebJobsStorage__blobServiceUri: hostStorage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: hostStorage.properties.primaryEndpoints.queue
  AzureWebJobsStorage__tableServiceUri: hostStorage.properties.primaryEndpoints.table
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // Inference storage: blobs (files, quarantine records), queues (the blob trigger's poison queue).
  INFERENCE_STORAGE__blobServiceUri: inferenceStorage.properties.primaryEndpoints.blob
  INFERENCE_STORAGE__queueServiceUri: inferenceStorage.properties.primaryEndpoints.queue
  INFERENCE_STORAGE__credential: 'managedidentity'
  INFERENCE_STORAGE__clientId: identityClientId
  // DefaultAzureCredential (Azure ML, Event Grid publishing) picks the same identity.
  AZURE_CLIENT_ID: identityClientId
}

// Local auth is off on Application Insights: telemetry is sent with the identity.
var monitoringSettings = {
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

module site 'br/public:avm/res/web/site:0.15.1' = {
  name: '${serviceName}-flex-consumption'
  params: {
    kind: 'functionapp,linux'
    name: name
    location: location
    tags: union(tags, { 'azd-service-name': serviceName })
    serverFarmResourceId: appServicePlanId
    managedIdentities: {
      systemAssigned: false
      userAssignedResourceIds: [
        identityId
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorage.properties.primaryEndpoints.blob}${deploymentStorageContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: runtimeName
        version: runtimeVersion
      }
    }
    siteConfig: {
      alwaysOn: false
    }
    appSettingsKeyValuePairs: union(appSettings, connectionSettings, monitoringSettings)
  }
}

output name string = site.outputs.name
output defaultHostname string = site.outputs.defaultHostname
