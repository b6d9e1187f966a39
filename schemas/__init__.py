"""Dataset schemas: the schema language (pydantic models) and one YAML file per corpus.

``model.py`` holds ``DatasetSchema``, assembled from its sections: ``layouts.py`` (where the records
are), ``rows.py`` (derived fields, exclusions, joins, audio files), ``record.py`` (value templates
and the record mapping), ``text.py`` (normalize), ``longform.py`` (windows, word times) and
``tasks.py`` (task bindings), on ``base.py``; ``templates.py`` and ``records_path.py`` parse what
the models hold; ``loader.py`` loads a schema by name or path, its errors naming the line. Nothing
here imports ``pipelines``.
"""
