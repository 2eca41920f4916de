"""Subcommands of the ``dpcondense`` CLI (one module each, see :mod:`dpcondense.cli`)."""
