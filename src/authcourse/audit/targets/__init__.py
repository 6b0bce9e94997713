"""Ready-made audit targets: the CloudDocs chapter apps (``clouddocs``), examples to copy."""
