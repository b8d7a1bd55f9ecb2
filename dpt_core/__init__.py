"""Dense Pose Transfer at scale: the pure library (no Prefect imports below this package)."""

__version__ = "0.1.0"
