"""The command line: ``pareto ...`` and ``python manage.py pareto ...`` share these commands."""
