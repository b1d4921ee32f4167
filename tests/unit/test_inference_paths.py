from __future__ import annotations

import pytest

from core.domain.ingestion import BlobRef, UnsupportedPath, ingestion_id, parse_inference_path


def test_csv_batches_anywhere_under_the_model_folder():
    f = parse_inference_path("credit/2026/11/batch-1.CSV")
    assert (f.model, f.layout, f.partition) == ("credit", "csv", None)


def test_collector_layout_names_endpoint_deployment_collection_and_hour():
    f = parse_inference_path("credit/ep/blue/model_outputs/2026/11/23/09/i-0.jsonl")
    assert (f.model, f.layout) == ("credit", "collector_jsonl")
    assert (f.endpoint, f.deployment, f.collection, f.partition) == (
        "ep", "blue", "model_outputs", "2026/11/23/09"
    )


@pytest.mark.parametrize(
    "name",
    [
        "loose.csv",
        "credit/",
        "-bad/x.csv",
        "credit/x.parquet",
        "credit/ep/blue/other/2026/11/23/09/i.jsonl",
        "credit/ep/blue/model_inputs/2026/11/23/i.jsonl",
    ],
)
def test_unsupported_paths(name):
    with pytest.raises(UnsupportedPath):
        parse_inference_path(name)


def test_ingestion_id_is_stable_per_path_and_etag():
    a = BlobRef("c", "m/x.csv", etag='"1"')
    assert ingestion_id(a) == ingestion_id(BlobRef("c", "m/x.csv", etag='"1"'))
    assert ingestion_id(a) != ingestion_id(BlobRef("c", "m/x.csv", etag='"2"'))
    assert ingestion_id(a) != ingestion_id(BlobRef("c", "m/y.csv", etag='"1"'))
