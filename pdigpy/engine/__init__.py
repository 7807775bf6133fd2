"""Falco-compatible rules: loader, condition language, compiler, fields, alert formatting."""
