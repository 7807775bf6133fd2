"""Ptrace over ctypes: launcher, seccomp filter, the wait loop, syscall tables, argument decoding.

The tracer knows nothing of rules: it is told which event types to trace and
hands each decoded event to a sink.
"""
