"""Dataset schemas: the pydantic model (``model.py``) and one YAML file per corpus."""
