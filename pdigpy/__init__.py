"""pdigpy: Falco-compatible threat detection for one program, from userspace, with ptrace."""

__version__ = "0.1.0"
