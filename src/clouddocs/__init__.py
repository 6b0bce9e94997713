"""clouddocs: the CloudDocs reference code, exported from the course's chapter notebooks.

Every module here except this one is generated from a notebook under ``notebooks/``
(its first line says which); edit the notebook and run ``make export``.
"""
