"""Tuning: the slicing and threshold settings that find a user's labelled objects best (pure:
numpy and app.detector; never Flask or boto3)."""
