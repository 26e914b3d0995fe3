"""``python -m airflow_provider_cincopa.probe``, the same as ``cincopa-probe``."""

from airflow_provider_cincopa.probe.run import main

raise SystemExit(main())
