// Monitor Autopilot for Azure ML: everything `azd provision` creates. Modelled on Azure-Samples
// functions-quickstart-python-azd-eventgrid-blob (Flex Consumption, one user-assigned identity,
// AVM modules, shared keys off); see infra/README.md. The Event Grid *subscriptions* are not here:
// they need the Functions extension keys, so scripts/postdeploy.* deploys infra/subscriptions
// after the code.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; seeds the resource names and tags every resource.')
param environmentName string

@minLength(1)
@description('Region of every resource. Flex Consumption is not offered in every region.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the person running azd (AZURE_PRINCIPAL_ID). Gets Storage Blob Data Contributor on the inference account, to upload files without keys. Empty: none.')
param principalId string = ''

param resourceGroupName string = ''

@description('Use this Azure ML workspace (same subscription) instead of creating one. Empty: create one.')
param existingWorkspaceName string = ''

@description('Resource group of existingWorkspaceName. Empty: the app resource group.')
param existingWorkspaceResourceGroup string = ''

@description('Event Grid system topic on the workspace. A resource has at most one system topic: if an existing workspace already has one, give its name here. Empty: a new name.')
param workspaceSystemTopicName string = ''

// Names and defaults the app reads (core/settings.py; the defaults are the app's own).
param inferenceContainerName string = 'inference'
param quarantineContainerName string = 'inference-quarantine'
param artifactsContainerName string = 'autopilot-artifacts'
@description('Container in the host account for events Event Grid could not deliver.')
param deadLetterContainerName string = 'eventgrid-deadletter'
param ledgerTablePrefix string = 'autopilot'
param inferenceDatastoreName string = 'inference_store'
param retrainQueueName string = 'retrain-requests'
@description('Retraining job YAML, relative to the app root (the deployed repo root).')
param retrainJobFile string = 'jobs/retrain.yml'
param retrainExperiment string = 'autopilot-retraining'
@description('Comma-separated reference columns inference files may leave out (labels arriving later).')
param labelColumns string = ''
param watchAllModels bool = true
@allowed([
  'classification'
  'regression'
])
param monitorMlTask string = 'classification'
@description('Daily HH:MM or a 5-field cron expression.')
param monitorSchedule string = '03:00'
param monitorTimeZone string = 'UTC'
param monitorAlertEmails string = ''
param monitorComputeInstance string = 'standard_e4s_v3'
@allowed([
  '3.4'
  '3.5'
])
param monitorSparkRuntime string = '3.5'

// Flex Consumption scale (the samples' defaults).
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var functionAppName = '${abbrs.webSitesFunctions}autopilot-${resourceToken}'
// Where azd puts the deployment package (Flex Consumption functionAppConfig).
var deploymentStorageContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'

var createWorkspace = empty(existingWorkspaceName)
var workspaceName = createWorkspace ? '${abbrs.machineLearningServicesWorkspaces}${resourceToken}' : existingWorkspaceName
var workspaceResourceGroupName = createWorkspace || empty(existingWorkspaceResourceGroup) ? rg.name : existingWorkspaceResourceGroup

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

// The one identity the app uses for everything: storage, Azure ML, Event Grid, App Insights.
module identity 'br/public:avm/res/managed-identity/user-assigned-identity:0.4.1' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}autopilot-${resourceToken}'
    location: location
    tags: tags
  }
}

module appServicePlan 'br/public:avm/res/web/serverfarm:0.1.1' = {
  name: 'appserviceplan'
  scope: rg
  params: {
    name: '${abbrs.webServerFarms}${resourceToken}'
    sku: {
      name: 'FC1'
      tier: 'FlexConsumption'
    }
    reserved: true
    location: location
    tags: tags
  }
}

// Host storage (AzureWebJobsStorage): Functions host, deployment package, ledger and state
// tables, retraining queues, artifacts, dead-lettered events.
module hostStorage 'br/public:avm/res/storage/storage-account:0.8.3' = {
  name: 'hostStorage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    skuName: 'Standard_LRS'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    minimumTlsVersion: 'TLS1_2'
    dnsEndpointType: 'Standard'
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    blobServices: {
      containers: [
        { name: deploymentStorageContainerName }
        { name: artifactsContainerName }
        { name: deadLetterContainerName }
      ]
    }
  }
}

// Inference storage (INFERENCE_STORAGE): the files to ingest and, beside them, the quarantine
// records (the app writes those to the files' account).
module inferenceStorage 'br/public:avm/res/storage/storage-account:0.8.3' = {
  name: 'inferenceStorage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}inf${resourceToken}'
    location: location
    tags: tags
    skuName: 'Standard_LRS'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    minimumTlsVersion: 'TLS1_2'
    dnsEndpointType: 'Standard'
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    blobServices: {
      containers: [
        { name: inferenceContainerName }
        { name: quarantineContainerName }
      ]
    }
  }
}

module logAnalytics 'br/public:avm/res/operational-insights/workspace:0.11.1' = {
  name: 'loganalytics'
  scope: rg
  params: {
    name: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    location: location
    tags: tags
    dataRetention: 30
  }
}

module monitoring 'br/public:avm/res/insights/component:0.6.0' = {
  name: 'appinsights'
  scope: rg
  params: {
    name: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
    workspaceResourceId: logAnalytics.outputs.resourceId
    disableLocalAuth: true
  }
}

// A new Azure ML workspace with its Key Vault and storage, unless existingWorkspaceName is set.
module workspace 'app/azureml-workspace.bicep' = if (createWorkspace) {
  name: 'azureml-workspace'
  scope: rg
  params: {
    name: workspaceName
    location: location
    tags: tags
    storageAccountName: '${abbrs.storageStorageAccounts}ml${resourceToken}'
    keyVaultName: '${abbrs.keyVaultVaults}${resourceToken}'
    applicationInsightsId: monitoring.outputs.resourceId
    identityPrincipalId: identity.outputs.principalId
  }
}

// In the workspace's resource group: the inference datastore, the app's role on the workspace and
// the workspace's Event Grid system topic.
module azureml 'app/azureml-access.bicep' = {
  name: 'azureml-access'
  scope: resourceGroup(workspaceResourceGroupName)
  dependsOn: [
    workspace
  ]
  params: {
    workspaceName: workspaceName
    systemTopicName: !empty(workspaceSystemTopicName) ? workspaceSystemTopicName : '${abbrs.eventGridSystemTopics}azureml-${resourceToken}'
    inferenceStorageAccountName: inferenceStorage.outputs.name
    inferenceStorageResourceGroupName: rg.name
    inferenceContainerName: inferenceContainerName
    inferenceDatastoreName: inferenceDatastoreName
    identityPrincipalId: identity.outputs.principalId
    identityResourceId: identity.outputs.resourceId
  }
}

// The custom topic for the app's own CloudEvents and the system topic on the inference account.
module events 'app/events.bicep' = {
  name: 'events'
  scope: rg
  params: {
    location: location
    tags: tags
    customTopicName: '${abbrs.eventGridTopics}autopilot-${resourceToken}'
    inferenceSystemTopicName: '${abbrs.eventGridSystemTopics}inference-${resourceToken}'
    inferenceStorageAccountName: inferenceStorage.outputs.name
    identityResourceId: identity.outputs.resourceId
  }
}

module functionApp 'app/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    name: functionAppName
    location: location
    tags: tags
    appServicePlanId: appServicePlan.outputs.resourceId
    applicationInsightsName: monitoring.outputs.name
    runtimeName: 'python'
    runtimeVersion: '3.11'
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    identityId: identity.outputs.resourceId
    identityClientId: identity.outputs.clientId
    hostStorageAccountName: hostStorage.outputs.name
    inferenceStorageAccountName: inferenceStorage.outputs.name
    deploymentStorageContainerName: deploymentStorageContainerName
    // The app's settings (core/settings.py, README "Configuration"). Connections, identity and
    // Application Insights settings are added in app/function-app.bicep.
    appSettings: {
      INFERENCE_CONTAINER: inferenceContainerName
      QUARANTINE_CONTAINER: quarantineContainerName
      ARTIFACTS_CONTAINER: artifactsContainerName
      LEDGER_TABLE_PREFIX: ledgerTablePrefix
      RETRAIN_QUEUE: retrainQueueName
      AUTOPILOT_BACKEND: 'azureml'
      AZURE_SUBSCRIPTION_ID: subscription().subscriptionId
      AZURE_RESOURCE_GROUP: workspaceResourceGroupName
      AZUREML_WORKSPACE_NAME: workspaceName
      INFERENCE_DATASTORE: inferenceDatastoreName
      LABEL_COLUMNS: labelColumns
      WATCH_ALL_MODELS: watchAllModels ? 'true' : 'false'
      MONITOR_ML_TASK: monitorMlTask
      MONITOR_SCHEDULE: monitorSchedule
      MONITOR_TIME_ZONE: monitorTimeZone
      MONITOR_ALERT_EMAILS: monitorAlertEmails
      MONITOR_COMPUTE_INSTANCE: monitorComputeInstance
      MONITOR_SPARK_RUNTIME: monitorSparkRuntime
      // Local backend only; 'none' makes sure nothing on Azure tries the in-process sink.
      EVENT_SINK: 'none'
      RETRAIN_JOB_FILE: retrainJobFile
      RETRAIN_EXPERIMENT: retrainExperiment
      AUTOPILOT_EVENTS_ENDPOINT: events.outputs.customTopicEndpoint
    }
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    identityPrincipalId: identity.outputs.principalId
    hostStorageAccountName: hostStorage.outputs.name
    inferenceStorageAccountName: inferenceStorage.outputs.name
    applicationInsightsName: monitoring.outputs.name
    customTopicName: events.outputs.customTopicName
    workspacePrincipalId: azureml.outputs.workspacePrincipalId
    userPrincipalId: principalId
  }
}

// azd stores these in the environment; scripts/postdeploy.* reads them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_HOSTNAME string = functionApp.outputs.defaultHostname
output AZURE_IDENTITY_RESOURCE_ID string = identity.outputs.resourceId
output AZURE_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.connectionString
output AZURE_STORAGE_ACCOUNT_NAME string = hostStorage.outputs.name
output INFERENCE_STORAGE_ACCOUNT_NAME string = inferenceStorage.outputs.name
output INFERENCE_CONTAINER_NAME string = inferenceContainerName
output INFERENCE_SYSTEM_TOPIC_NAME string = events.outputs.inferenceSystemTopicName
output AUTOPILOT_EVENTS_ENDPOINT string = events.outputs.customTopicEndpoint
output AZUREML_WORKSPACE_NAME string = workspaceName
output AZUREML_RESOURCE_GROUP string = workspaceResourceGroupName
output AZUREML_SYSTEM_TOPIC_NAME string = azureml.outputs.systemTopicName
output RETRAIN_EXPERIMENT string = retrainExperiment
output DEAD_LETTER_STORAGE_ACCOUNT_ID string = hostStorage.outputs.resourceId
output DEAD_LETTER_CONTAINER_NAME string = deadLetterContainerName
