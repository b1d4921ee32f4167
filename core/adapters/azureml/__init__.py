"""The Azure ML backend over `azure-ai-ml`'s `MLClient`: data assets, models, monitor schedules
and jobs (`workspace`, `schedule`), its monitor runner and its retrainer (an Azure ML job).
`azure.ai.ml` costs about 1.5 s to import, so it is imported only inside these modules."""
