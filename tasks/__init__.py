"""Thin Prefect task wrappers over dpt_core (retries, tags, cache keys)."""
