"""
``start_from_trigger``: a sensor's wait handed straight to the triggerer and ended there.

Generic Airflow plumbing shared by the provider's sensors and triggers, kept out of both packages
so that neither imports the other:

- :mod:`.start` (the sensor's half): :class:`~.start.StartFromTriggerMixin` decides, when the DAG
  is parsed, whether the triggerer can render what the sensor's template fields hold, and builds
  the ``StartTriggerArgs``; otherwise the sensor starts on a worker and defers from there.
- :mod:`.end` (the trigger's half): :func:`~.end.deadline` and :func:`~.end.end_task` turn the
  trigger's one event into the event that ends the task in the triggerer.
- :mod:`.triggerer_contract`: everything both halves rely on from the triggerer's internals
  (its template context names, Jinja's parser, the timeout grace), documented there. Check that
  module first when a new Airflow release changes the triggerer.
"""
