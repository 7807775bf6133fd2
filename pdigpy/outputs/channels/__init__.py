"""Falco's output channels: stderr (pdigpy's default), stdout, file, syslog, program, http."""
