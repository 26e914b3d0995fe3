"""Operator extra links: buttons in the Airflow UI that open what a task made in Cincopa."""
