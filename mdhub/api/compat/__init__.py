"""Compatibility layers: the HTTP dialects of the hosted services mdhub replaces, each under its
own prefix, mapped onto mdhub's own datasets, jobs and accounts (no second engine)."""
