"""The Python ML layer: reads marts.track_features, trains and tracks scikit-learn models."""
