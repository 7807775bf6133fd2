"""Syscall tables per architecture: one row per syscall (number, Falco event, decoders)."""
