"""The retraining pipeline: labelled-data import, rq jobs, training and the classifier store."""
