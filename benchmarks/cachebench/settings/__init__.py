"""One Django settings module per implementation under test.

django-cachalot and django-cacheops patch the ORM globally when their app loads, so each
implementation runs in processes of its own, with its own settings module:

  none      plain Django, no query cache (the control)
  ours      django_pareto.querycache, MODE "all"
  cachalot  django-cachalot (every ORM read cached, table-level invalidation)
  cacheops  django-cacheops, every op of every model (``"*.*": {"ops": "all"}``)

The harness passes the database and the Redis location in environment variables (see
``base``), so that one run can give each implementation a Redis db of its own and the
whole run a PostgreSQL database of its own.
"""
