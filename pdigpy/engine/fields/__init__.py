"""Field extraction for the syscall source, organised by field class as Falco's libs do."""
