"""Adapters: every SDK call, behind the ports. One folder per backend:

- `storage/`: Azure Storage (blobs, Table storage, queues) over the SDK clients; Azurite locally;
- `azureml/`: an Azure ML workspace over `MLClient` (data, models, monitor schedules, jobs),
  its monitor runner (asks Azure ML to run a schedule) and its retrainer (a job);
- `local/`: the local workspace folder storing the same entities as the YAML the Azure CLI
  accepts, its monitor runner (our drift engine, emitting Azure's events), its retrainer
  (in-process) and the event sinks that deliver events as Event Grid would.

Shared helpers: `table_reader` (files and MLTable folders, read with the domain's parsing
rules) and `monitor_toggle`. Adapters import the ports, the domain, the drift engine and
training code, and SDKs; never a use case (`core.services`) or the composition root.
"""
