"""Blob trigger: an inference file landed in the inference container."""

from __future__ import annotations

import logging

import azure.functions as func
import azurefunctions.extensions.bindings.blob as blob

from core.bootstrap import services
from core.domain.ingestion import BlobRef
from functions.tracing import invocation

bp = func.Blueprint()
log = logging.getLogger(__name__)


# Event Grid source: the low-latency blob trigger (the only kind on Flex Consumption).
# The SDK-type binding hands us a BlobClient, so the worker never loads the whole blob;
# ingestion streams it.
@bp.function_name("ingest_inference_blob")
@bp.blob_trigger(
    arg_name="client",
    path="%INFERENCE_CONTAINER%/{name}",
    connection="INFERENCE_STORAGE",
    source=func.BlobSource.EVENT_GRID,
)
def ingest_inference_blob(client: blob.BlobClient, context: func.Context) -> None:
    ref = BlobRef(container=client.container_name, name=client.blob_name)
    with invocation("ingest_inference_blob", context, blob=ref.path):
        outcome = services().ingest.ingest(ref)
        # Rejections are recorded and quarantined: returning normally acknowledges the event.
        # Transient failures raised inside `ingest` propagate, so the host retries.
        log.info("ingest %s: %s (%s)", ref.path, outcome.kind, outcome.message)
