"""Training and scoring models (scikit-learn), and the one challenger flow shared by the local
retrainer and the Azure ML job. Imported only where a model is trained or scored: scikit-learn
costs about 1.8 s to import, and no cold start that only ingests a file may pay it."""
