"""The metadata store's Alembic migrations: ``env.py`` and one frozen revision per schema change.

Only ``flowstone.storage.migration`` runs them, on the connection of the store being opened.
"""
