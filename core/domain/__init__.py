"""The domain: what the product reasons about, as plain data and pure decisions.

What lives here:

- ``events``: Azure ML events parsed from Event Grid or CloudEvents envelopes; ``alerts``:
  every source of "this model drifted" turned into one `DriftAlert`;
- commands: the retraining queue message (`RetrainMessage`, in ``retraining``);
- ``tags``: every tag the product reads or writes;
- ``ingestion``: inference files and what became of them; ``names``: the one validator of
  names, versions and blob paths (Azure ML's rules); ``errors``: permanent vs transient;
  ``validation``: streaming validation of a file against the reference schema; ``tables``:
  the one set of rules for reading tabular data;
- ``assets``: workspace entities (models, data assets, MLTables) independent of any SDK;
- ``monitoring``: a model's monitor spec; ``monitor_decision``: which monitor a model should
  have;
- ``retraining``: requests, the gate, statuses and reasons, the champion/challenger judgement.

Pure code: the standard library, numpy, scipy and pyarrow only (today it uses pyarrow to read
tables, ``MLTable.to_yaml`` imports PyYAML lazily, and ``monitoring.check_cron`` croniter, a
pure cron calculator); no Azure SDK, no I/O of its own
(callers hand in open streams). It may import ``core.drift`` (the metric registry), and
nothing from ``core.services``, ``core.adapters``, ``core.bootstrap``, ``functions`` or
``devtools``.
"""
