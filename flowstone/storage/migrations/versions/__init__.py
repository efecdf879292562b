"""The revisions, oldest first; each one frozen: it never reads the live tables of ``schema``."""
