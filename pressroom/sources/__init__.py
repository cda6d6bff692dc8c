"""Articles from where they already live: SQL sources, the WordPress preset, the ingest API.

``[sources.<name>]`` tables name a CMS database; :func:`pressroom.sources.sync.sync_source`
reads the rows changed since the source's watermark (or all of them on a full pass),
checks every value as ``pressroom import`` does, and writes only rows whose content hash
moved. :mod:`pressroom.sources.ingest` is the same for a CMS that pushes
(``POST``/``DELETE /api/articles``).
"""
