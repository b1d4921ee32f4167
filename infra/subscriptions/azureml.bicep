// The Azure ML workspace's event subscriptions (README "Deployment", step 6), one per event type:
// advanced filters apply to every event of a subscription, and each type needs its own filter.
@secure()
param eventGridExtensionKey string
param functionAppHostname string
param systemTopicName string
param retrainExperiment string
param subscribeDatasetDrift bool
param retryPolicy object
param deadLetter object

var webhook = 'https://${functionAppHostname}/runtime/webhooks/eventgrid'
var code = uriComponent(eventGridExtensionKey)

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: systemTopicName
}

// A model version was registered: create or re-aim its monitor.
resource modelRegistered 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: systemTopic
  name: 'model-registered'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: '${webhook}?functionName=on_model_registered&code=${code}'
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.MachineLearningServices.ModelRegistered'
      ]
    }
    eventDeliverySchema: 'EventGridSchema'
    retryPolicy: retryPolicy
    deadLetterWithResourceIdentity: deadLetter
  }
}

// A monitoring run breached its thresholds (the filter the Azure ML docs give for model monitoring).
resource monitorThresholdBreached 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: systemTopic
  name: 'monitor-threshold-breached'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: '${webhook}?functionName=on_azureml_run_event&code=${code}'
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.MachineLearningServices.RunStatusChanged'
      ]
      advancedFilters: [
        {
          operatorType: 'StringContains'
          key: 'data.RunTags.azureml_modelmonitor_threshold_breached'
          values: [
            'has failed due to one or more features violating metric thresholds'
          ]
        }
      ]
    }
    eventDeliverySchema: 'EventGridSchema'
    retryPolicy: retryPolicy
    deadLetterWithResourceIdentity: deadLetter
  }
}

// Our retraining jobs completed: judge the challenger. (Failed and cancelled jobs emit no event;
// the scheduler timer asks for their status.)
resource retrainingCompleted 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: systemTopic
  name: 'retraining-completed'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: '${webhook}?functionName=on_azureml_run_event&code=${code}'
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.MachineLearningServices.RunCompleted'
      ]
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.ExperimentName'
          values: [
            retrainExperiment
          ]
        }
      ]
    }
    eventDeliverySchema: 'EventGridSchema'
    retryPolicy: retryPolicy
    deadLetterWithResourceIdentity: deadLetter
  }
}

// Legacy Azure ML v1 data drift monitors.
resource datasetDriftDetected 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (subscribeDatasetDrift) {
  parent: systemTopic
  name: 'dataset-drift-detected'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: '${webhook}?functionName=on_azureml_run_event&code=${code}'
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.MachineLearningServices.DatasetDriftDetected'
      ]
    }
    eventDeliverySchema: 'EventGridSchema'
    retryPolicy: retryPolicy
    deadLetterWithResourceIdentity: deadLetter
  }
}
