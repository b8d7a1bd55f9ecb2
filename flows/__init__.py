"""Prefect flows, one module per stage of the DAG."""
