"""Training and scoring models (scikit-learn), reading the formats users register (MLflow,
joblib, pickle: `loader`, the model port), and the one challenger flow shared by both backends'
retraining job. Imported only where a model is described, trained or scored: scikit-learn costs
about 1.8 s to import and MLflow about 1.5 s (imported inside the functions that use it), and no
cold start that only ingests a file may pay either."""
